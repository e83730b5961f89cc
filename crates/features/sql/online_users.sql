-- Serving lookup per user: full-training statistics (fold -1) and demographics, for every
-- user of table users and every user with training ratings.
SELECT coalesce(us.user_id, u.user_id) AS user_id,
       coalesce(u.mean, {{mu}}) AS avg_user_rating,
       CAST(coalesce(u.n, 0) AS DOUBLE) AS user_rating_count,
       coalesce(u.spread, {{sigma}}) AS user_rating_std,
       us.user_age,
       us.user_gender,
       us.occupation_index,
       coalesce(oc.mean, {{mu}}) AS occupation_mean,
       coalesce(us.user_tag_count, 0.0) AS user_tag_count
FROM {{user_static}} us
FULL OUTER JOIN (SELECT * FROM {{user_oof}} WHERE fold = -1) u ON u.user_id = us.user_id
LEFT JOIN (SELECT * FROM {{occupation_oof}} WHERE fold = -1) oc ON oc.occupation = us.occupation
ORDER BY user_id
