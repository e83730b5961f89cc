-- Out-of-fold statistics of one entity (user, movie, director, occupation, user x genre).
-- Output, per key and fold:
--   fold = -1 : the totals over every rating that enters statistics (test rows, serving);
--   fold = k  : the totals minus fold k's own sums (training rows of fold k). Keys whose only
--               ratings are in fold k have no row for k: readers fall back to the prior.
-- s, ss, n are the sum, sum of squares and count; mean and spread shrink toward the global
-- mean / variance with prior strength m: (s + m*mu) / (n + m), sqrt((SSD + m*var) / (n + m)).
WITH keyed AS (
    {{keyed}}
),
per_fold AS (
    SELECT {{keys}}, stat_fold AS fold, sum(rating) AS s, sum(rating * rating) AS ss, count(*) AS n
    FROM keyed
    GROUP BY {{keys}}, stat_fold
),
totals AS (
    SELECT {{keys}}, sum(s) AS s, sum(ss) AS ss, sum(n) AS n
    FROM per_fold
    GROUP BY {{keys}}
),
oof AS (
    SELECT {{keys}}, CAST(-1 AS INT) AS fold, s, ss, n
    FROM totals
    UNION ALL
    SELECT {{p_keys}}, p.fold, t.s - p.s AS s, t.ss - p.ss AS ss, t.n - p.n AS n
    FROM per_fold p
    JOIN totals t ON {{key_join}}
    WHERE p.fold >= 0 AND t.n > p.n
)
SELECT {{keys}},
       fold,
       s,
       ss,
       n,
       (s + {{m}} * {{mu}}) / (CAST(n AS DOUBLE) + {{m}}) AS mean,
       sqrt((greatest(ss - s * s / CAST(n AS DOUBLE), 0.0) + {{m}} * {{var}}) / (CAST(n AS DOUBLE) + {{m}})) AS spread
FROM oof
