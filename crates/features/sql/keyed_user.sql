-- Ratings that enter statistics, keyed by user.
SELECT user_id, stat_fold, rating
FROM ({{rows}}) r
WHERE stat_fold IS NOT NULL
