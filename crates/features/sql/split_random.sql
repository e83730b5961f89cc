-- Split: seeded random.
-- A rating is a test row when the hash of (user, movie, seed) falls below the test fraction:
-- independent of the rating itself, of row order and of partitioning.
SELECT user_id,
       movie_id,
       rating,
       "timestamp",
       rf_bucket(user_id, movie_id, {{seed}}) < {{test_fraction}} AS is_test
FROM ratings
