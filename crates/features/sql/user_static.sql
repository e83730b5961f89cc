-- Per user, everything that does not depend on ratings: age, gender (1 = M, 0 = F, NULL
-- otherwise), occupation and its index (byte order of the distinct names), tag count.
WITH tag_counts AS (
    SELECT user_id, count(*) AS n FROM tags GROUP BY user_id
),
occupations AS (
    SELECT occupation,
           CAST(row_number() OVER (ORDER BY occupation) - 1 AS DOUBLE) AS idx
    FROM (
        SELECT DISTINCT trim(occupation) AS occupation
        FROM users
        WHERE occupation IS NOT NULL AND trim(occupation) <> ''
    ) o
)
SELECT u.user_id,
       CAST(u.age AS DOUBLE) AS user_age,
       CASE upper(trim(u.gender)) WHEN 'M' THEN 1.0 WHEN 'F' THEN 0.0 ELSE CAST(NULL AS DOUBLE) END AS user_gender,
       o.occupation,
       o.idx AS occupation_index,
       CAST(coalesce(t.n, 0) AS DOUBLE) AS user_tag_count
FROM users u
LEFT JOIN occupations o ON o.occupation = trim(u.occupation)
LEFT JOIN tag_counts t ON t.user_id = u.user_id
