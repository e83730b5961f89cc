-- The genre vocabulary: every genre of movie_genres, numbered in byte order of the name.
SELECT genre,
       CAST(row_number() OVER (ORDER BY genre) - 1 AS INT) AS idx
FROM (SELECT DISTINCT genre FROM movie_genres) g
