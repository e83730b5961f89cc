-- The global statistics every prior shrinks toward (one row, collected by the driver):
-- sum and sum of squares of the ratings that enter statistics, and the row counts.
SELECT sum(CASE WHEN stat_fold IS NOT NULL THEN rating END) AS s,
       sum(CASE WHEN stat_fold IS NOT NULL THEN rating * rating END) AS ss,
       count(stat_fold) AS n_stat,
       count(CASE WHEN NOT is_test THEN 1 END) AS n_train,
       count(CASE WHEN is_test THEN 1 END) AS n_test
FROM ({{rows}}) r
