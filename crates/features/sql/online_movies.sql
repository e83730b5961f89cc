-- Serving lookup per movie: full-training statistics (fold -1), release year, director
-- statistics, tag count and genre flags, for every movie of table movies and every movie with
-- training ratings.
SELECT coalesce(ms.movie_id, mo.movie_id) AS movie_id,
       coalesce(mo.mean, {{mu}}) AS avg_movie_rating,
       CAST(coalesce(mo.n, 0) AS DOUBLE) AS rating_count,
       coalesce(mo.spread, {{sigma}}) AS movie_rating_std,
       ms.release_year,
       coalesce(d.mean, {{mu}}) AS director_mean,
       CAST(coalesce(d.n, 0) AS DOUBLE) AS director_count,
       coalesce(ms.movie_tag_count, 0.0) AS movie_tag_count{{genre_select}}
FROM {{movie_static}} ms
FULL OUTER JOIN (SELECT * FROM {{movie_oof}} WHERE fold = -1) mo ON mo.movie_id = ms.movie_id
LEFT JOIN (SELECT * FROM {{director_oof}} WHERE fold = -1) d ON d.director = ms.director
ORDER BY movie_id
