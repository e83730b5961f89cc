-- Ratings that enter statistics, keyed by the movie's director (movies without one drop out).
SELECT m.director, r.stat_fold, r.rating
FROM ({{rows}}) r
JOIN {{movie_static}} m ON m.movie_id = r.movie_id
WHERE r.stat_fold IS NOT NULL AND m.director IS NOT NULL
