-- Split: predefined by the dataset (ml-100k's u1..u5, ua, ub), from table predefined_splits.
SELECT r.user_id,
       r.movie_id,
       r.rating,
       r."timestamp",
       p.is_test
FROM predefined_splits p
JOIN ratings r ON r.user_id = p.user_id AND r.movie_id = p.movie_id
WHERE p.split = {{name}}
