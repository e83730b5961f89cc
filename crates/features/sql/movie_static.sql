-- Per movie, everything that does not depend on ratings: release year, director (first
-- non-blank name in movie_meta), tag count, and the multi-hot genre columns (genre_<name>).
WITH tag_counts AS (
    SELECT movie_id, count(*) AS n FROM tags GROUP BY movie_id
),
directors AS (
    SELECT movie_id, min(trim(director)) AS director
    FROM movie_meta
    WHERE director IS NOT NULL AND trim(director) <> ''
    GROUP BY movie_id
),
genre_flags AS (
    SELECT g.movie_id{{genre_pivot}}
    FROM movie_genres g
    JOIN {{genres}} gl ON gl.genre = g.genre
    GROUP BY g.movie_id
)
SELECT m.movie_id,
       CAST(m.year AS DOUBLE) AS release_year,
       d.director,
       CAST(coalesce(t.n, 0) AS DOUBLE) AS movie_tag_count{{genre_select}}
FROM movies m
LEFT JOIN directors d ON d.movie_id = m.movie_id
LEFT JOIN tag_counts t ON t.movie_id = m.movie_id
LEFT JOIN genre_flags f ON f.movie_id = m.movie_id
