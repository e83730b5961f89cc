-- One part (train or test) of the feature table. Every statistic is looked up at the row's
-- fold (see rows.sql), so a training row never sees its own rating, and test ratings never
-- enter anything but the test row's label. Unknown keys fall back to the priors (mean mu,
-- spread sigma, count 0).
WITH r AS (
    SELECT * FROM ({{rows}}) x WHERE is_test = {{test_part}}
),
aff AS (
    -- The user's sums over the genres of the movie, at the row's fold.
    SELECT r.user_id, r.movie_id, sum(o.s) AS s, sum(o.n) AS n
    FROM r
    JOIN movie_genres g ON g.movie_id = r.movie_id
    JOIN {{user_genre_oof}} o ON o.user_id = r.user_id AND o.genre = g.genre AND o.fold = r.fold
    GROUP BY r.user_id, r.movie_id
),
joined AS (
    SELECT r.user_id,
           r.movie_id,
           r.rating,
           r."timestamp",
           coalesce(u.mean, {{mu}}) AS user_mean,
           coalesce(u.n, 0) AS user_n,
           coalesce(u.spread, {{sigma}}) AS user_spread,
           coalesce(mo.mean, {{mu}}) AS movie_mean,
           coalesce(mo.n, 0) AS movie_n,
           coalesce(mo.spread, {{sigma}}) AS movie_spread,
           coalesce(d.mean, {{mu}}) AS director_mean,
           coalesce(d.n, 0) AS director_n,
           coalesce(oc.mean, {{mu}}) AS occupation_mean,
           coalesce(a.s, 0.0) AS aff_s,
           coalesce(a.n, 0) AS aff_n,
           ms.release_year,
           coalesce(ms.movie_tag_count, 0.0) AS movie_tag_count,
           us.user_age,
           us.user_gender,
           us.occupation_index,
           coalesce(us.user_tag_count, 0.0) AS user_tag_count{{genre_select}}
    FROM r
    LEFT JOIN {{user_oof}} u ON u.user_id = r.user_id AND u.fold = r.fold
    LEFT JOIN {{movie_oof}} mo ON mo.movie_id = r.movie_id AND mo.fold = r.fold
    LEFT JOIN {{movie_static}} ms ON ms.movie_id = r.movie_id
    LEFT JOIN {{user_static}} us ON us.user_id = r.user_id
    LEFT JOIN {{director_oof}} d ON d.director = ms.director AND d.fold = r.fold
    LEFT JOIN {{occupation_oof}} oc ON oc.occupation = us.occupation AND oc.fold = r.fold
    LEFT JOIN aff a ON a.user_id = r.user_id AND a.movie_id = r.movie_id
)
SELECT user_id,
       movie_id,
       rating,
       CASE WHEN rating >= {{good_threshold}} THEN 1.0 ELSE 0.0 END AS good,
       user_mean AS avg_user_rating,
       CAST(user_n AS DOUBLE) AS user_rating_count,
       user_spread AS user_rating_std,
       movie_mean AS avg_movie_rating,
       CAST(movie_n AS DOUBLE) AS rating_count,
       movie_spread AS movie_rating_std,
       CASE WHEN CAST(aff_n AS DOUBLE) + {{m}} > 0.0
            THEN (aff_s + {{m}} * user_mean) / (CAST(aff_n AS DOUBLE) + {{m}}) - user_mean
            ELSE 0.0 END AS user_genre_affinity,
       release_year,
       CAST("timestamp" AS DOUBLE) / 31556952.0 + 1970.0 - release_year AS movie_age,
       user_age,
       user_gender,
       occupation_index,
       occupation_mean,
       director_mean,
       CAST(director_n AS DOUBLE) AS director_count,
       movie_tag_count,
       user_tag_count{{genre_columns}}
FROM joined
