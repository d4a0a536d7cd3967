-- avg and sum.
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vecx), ('[3,4,5]'), (NULL)) t(v);
SELECT avg(v) IS NULL AS avg_empty, sum(v) IS NULL AS sum_empty FROM (SELECT '[1]'::vecx v WHERE false) t;
SELECT g, avg(v), sum(v) FROM (VALUES (1, '[1,1]'::vecx), (1, '[3,3]'), (2, '[10,0]')) t(g, v) GROUP BY g ORDER BY g;
SELECT err($$SELECT avg(v) FROM (VALUES ('[1,2]'::vecx), ('[1]')) t(v)$$);
SELECT err($$SELECT sum(v) FROM (VALUES ('[3e38]'::vecx), ('[3e38]')) t(v)$$);
SELECT avg(v) FROM (VALUES ('[3e38]'::vecx), ('[3e38]')) t(v);
-- A parallel aggregate plan gives the same result as a serial one.
CREATE TABLE agg_t (id int, v vecx(4));
INSERT INTO agg_t SELECT i, ARRAY[i % 7, i % 11, (i % 13) * 0.5, 1]::vecx FROM generate_series(1, 100000) i;
ANALYZE agg_t;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS SELECT avg(v) AS a, sum(v) AS s FROM agg_t;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_t;
SELECT avg(v) = (SELECT a FROM serial) AS avg_same, sum(v) = (SELECT s FROM serial) AS sum_same, avg(v), sum(v) FROM agg_t;
RESET ALL;
DROP TABLE agg_t;
