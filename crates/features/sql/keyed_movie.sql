-- Ratings that enter statistics, keyed by movie.
SELECT movie_id, stat_fold, rating
FROM ({{rows}}) r
WHERE stat_fold IS NOT NULL
