-- The stored train / test table: the assembled features, the extra per-(user, movie) feature
-- tables of the spec (model-derived features; left-joined, NULL where a table has no row),
-- in a deterministic order.
SELECT c.*{{extra_columns}}
FROM ({{core}}) c{{extra_joins}}
ORDER BY c.user_id, c.movie_id
