-- The rows of a split with their fold columns (a fragment: every later step reads it).
--   fold      : which statistics a row looks up. Honest protocol: a training row its own fold
--               (0 .. folds-1, from the hash of (user, movie, fold seed)), so it sees totals
--               minus its own fold; a test row -1, the full-training statistics.
--               Leaky protocol: -1 for every row.
--   stat_fold : which fold a row's rating is summed under. Honest: a training row its fold, a
--               test row NULL (test ratings never enter any statistic). Leaky: -1 for every
--               row, test rows included (the seed project's mistake, kept for the audit).
SELECT user_id,
       movie_id,
       rating,
       "timestamp",
       is_test,
       CASE WHEN is_test THEN CAST(-1 AS INT) ELSE train_fold END AS fold,
       CASE WHEN NOT is_test THEN train_fold
            WHEN {{honest}} THEN CAST(NULL AS INT)
            ELSE CAST(-1 AS INT) END AS stat_fold
FROM (
    SELECT user_id,
           movie_id,
           CAST(rating AS DOUBLE) AS rating,
           CAST("timestamp" AS BIGINT) AS "timestamp",
           is_test,
           CASE WHEN {{honest}}
                THEN CAST(floor(rf_bucket(user_id, movie_id, {{fold_seed}}) * {{folds}}) AS INT)
                ELSE CAST(-1 AS INT) END AS train_fold
    FROM {{split}}
) split_rows
