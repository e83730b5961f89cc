-- Ratings that enter statistics, keyed by (user, genre): one row per genre of the rated movie.
SELECT r.user_id, g.genre, r.stat_fold, r.rating
FROM ({{rows}}) r
JOIN movie_genres g ON g.movie_id = r.movie_id
WHERE r.stat_fold IS NOT NULL
