-- The planner picks the vector indexes for ORDER BY ... LIMIT on a table whose vectors are
-- stored out of line (TOAST: 1,000 dimensions, the default storage), where the table has few
-- pages and a sequential scan looks cheap because its cost leaves out the TOAST reads; and it
-- still prefers another plan for a selective filter. No enable_* settings here.
SELECT setseed(0.3);
CREATE TABLE t (id int PRIMARY KEY, cat int, v vecx(1000));
INSERT INTO t SELECT i, i % 100,
    (SELECT array_agg(random()::real) FROM generate_series(1, 1000) WHERE i > 0)::vecx
    FROM generate_series(1, 2000) i;
CREATE INDEX t_cat ON t (cat);
ANALYZE t;
-- Few heap pages: the vectors live in the TOAST table.
SELECT relpages < 100 AS heap_is_small FROM pg_class WHERE relname = 't';
CREATE INDEX t_hnsw ON t USING vecx_hnsw (v vecx_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 10;
-- A filter matching one row: the primary key, not the vector index.
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE id = 5 ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 10;
SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 1;
DROP INDEX t_hnsw;
CREATE INDEX t_ivfpq ON t USING vecx_ivfpq (v vecx_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE id = 5 ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 10;
SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 1;
DROP TABLE t;
