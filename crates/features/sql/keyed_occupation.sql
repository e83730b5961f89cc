-- Ratings that enter statistics, keyed by the user's occupation.
SELECT u.occupation, r.stat_fold, r.rating
FROM ({{rows}}) r
JOIN {{user_static}} u ON u.user_id = r.user_id
WHERE r.stat_fold IS NOT NULL AND u.occupation IS NOT NULL
