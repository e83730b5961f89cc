-- The names of the predefined splits a dataset ships (a handful of rows).
SELECT DISTINCT split FROM predefined_splits ORDER BY split
