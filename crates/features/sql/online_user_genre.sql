-- Serving lookup for the user-genre affinity: the user's full-training rating sum and count
-- per genre. Affinity of (user, movie) = (S + m * mean_u) / (N + m) - mean_u, with S and N
-- summed over the movie's genres and mean_u the user's avg_user_rating.
SELECT user_id,
       genre,
       s AS rating_sum,
       CAST(n AS DOUBLE) AS rating_count
FROM {{user_genre_oof}}
WHERE fold = -1
ORDER BY user_id, genre
