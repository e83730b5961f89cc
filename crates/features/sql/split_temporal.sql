-- Split: per-user temporal.
-- Each user's latest floor(n * test_fraction) ratings are test rows, n being the user's number
-- of ratings; "latest" orders by timestamp, ties broken by the larger movie_id. A user with too
-- few ratings for one test row stays entirely in training.
SELECT user_id,
       movie_id,
       rating,
       "timestamp",
       rank_desc <= CAST(floor(CAST(n_user AS DOUBLE) * {{test_fraction}} + 1e-9) AS BIGINT) AS is_test
FROM (
    SELECT user_id,
           movie_id,
           rating,
           "timestamp",
           row_number() OVER (PARTITION BY user_id ORDER BY "timestamp" DESC, movie_id DESC) AS rank_desc,
           count(*) OVER (PARTITION BY user_id) AS n_user
    FROM ratings
) ranked
