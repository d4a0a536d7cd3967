-- Security: row-level security with a per-tenant policy on a table with each index access
-- method, and what roles without SELECT can learn through index scans and vecx functions.
--
-- The tenants own very different shares of the rows (alice 1%, bob 98.7%, carol 3 rows), so
-- their top-10 through the index only comes out complete because the scans keep searching
-- while the policy discards other tenants' rows (iterative scans).
SET client_min_messages = warning;
DROP ROLE IF EXISTS vecx_alice;
DROP ROLE IF EXISTS vecx_bob;
DROP ROLE IF EXISTS vecx_carol;
DROP ROLE IF EXISTS vecx_nobody;
RESET client_min_messages;
CREATE ROLE vecx_alice;
CREATE ROLE vecx_bob;
CREATE ROLE vecx_carol;
CREATE ROLE vecx_nobody;
SELECT setseed(0.3);
CREATE TABLE docs (id int PRIMARY KEY, tenant name NOT NULL, v vecx(8));
INSERT INTO docs SELECT i,
    CASE WHEN i % 100 = 0 THEN 'vecx_alice' WHEN i IN (7, 1507, 2907) THEN 'vecx_carol' ELSE 'vecx_bob' END,
    (SELECT array_agg((i % 6) * 2 + random() ORDER BY d) FROM generate_series(1, 8) d WHERE i > 0)::vecx
    FROM generate_series(1, 3000) i;
CREATE TABLE docs_q AS SELECT q AS qid,
    (SELECT array_agg((q % 6) * 2 + random() ORDER BY d) FROM generate_series(1, 8) d WHERE q > 0)::vecx AS v
    FROM generate_series(1, 20) q;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON docs USING (tenant = current_user);
GRANT SELECT ON docs, docs_q TO vecx_alice, vecx_bob, vecx_carol;
-- Each tenant's exact top-10 (computed by the owner, who is not subject to the policy).
CREATE TABLE docs_exact AS SELECT t.tenant, q.qid, x.id FROM docs_q q,
    (VALUES ('vecx_alice'::name), ('vecx_bob'), ('vecx_carol')) t(tenant),
    LATERAL (SELECT id FROM docs WHERE docs.tenant = t.tenant ORDER BY v <-> q.v LIMIT 10) x;
GRANT SELECT ON docs_exact TO vecx_alice, vecx_bob, vecx_carol;
-- One tenant's view through the index: rows returned per query, rows of another tenant, rows
-- out of distance order, and recall against the tenant's exact top-10.
CREATE FUNCTION tenant_view(OUT queries bigint, OUT complete bigint, OUT foreign_rows bigint,
                            OUT out_of_order bigint, OUT recall_at_least_090 boolean)
LANGUAGE sql AS $$
    WITH r AS (
        SELECT q.qid, x.id, x.tenant, x.d, lag(x.d) OVER (PARTITION BY q.qid ORDER BY x.n) AS prev
        FROM docs_q q, LATERAL (
            SELECT id, tenant, d, row_number() OVER () AS n
            FROM (SELECT id, tenant, v <-> q.v AS d FROM docs ORDER BY v <-> q.v LIMIT 10) s) x)
    SELECT (SELECT count(*) FROM docs_q),
           (SELECT count(*) FROM (SELECT qid FROM r GROUP BY qid
               HAVING count(*) = least(10, (SELECT count(*) FROM docs))) c),
           count(*) FILTER (WHERE tenant <> current_user),
           count(*) FILTER (WHERE d < prev),
           (SELECT count(*) FROM r JOIN docs_exact e ON e.qid = r.qid AND e.id = r.id
               AND e.tenant = current_user)
             >= 0.9 * (SELECT count(*) FROM docs_exact WHERE tenant = current_user)
    FROM r
$$;
GRANT EXECUTE ON FUNCTION tenant_view() TO vecx_alice, vecx_bob, vecx_carol;
-- vecx_hnsw ------------------------------------------------------------------------------------
CREATE INDEX docs_v ON docs USING vecx_hnsw (v vecx_l2_ops);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET ROLE vecx_alice;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10;
SELECT count(*) AS visible_rows FROM docs;
SELECT * FROM tenant_view();
SET ROLE vecx_bob;
SELECT * FROM tenant_view();
SET ROLE vecx_carol;
SELECT * FROM tenant_view();
-- A tenant with SELECT may inspect the index (the row count is what pg_class.reltuples and
-- pg_stat_user_tables already show every role).
SELECT vecx_index_check('docs_v');
-- A role without SELECT on the table learns nothing: not through a scan, not through the
-- introspection functions.
SET ROLE vecx_nobody;
SELECT err($$SELECT id FROM docs ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10$$);
SELECT err($$SELECT * FROM vecx_index_stats('docs_v')$$);
SELECT err($$SELECT vecx_index_check('docs_v')$$);
RESET ROLE;
-- vecx_ivfpq ------------------------------------------------------------------------------------
DROP INDEX docs_v;
CREATE INDEX docs_v ON docs USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 8, pq_m = 4);
SET vecx.ivfpq_probes = 2;
SET ROLE vecx_alice;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10;
SELECT * FROM tenant_view();
SET ROLE vecx_bob;
SELECT * FROM tenant_view();
SET ROLE vecx_carol;
SELECT * FROM tenant_view();
SELECT vecx_index_check('docs_v');
SET ROLE vecx_nobody;
SELECT err($$SELECT id FROM docs ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10$$);
SELECT err($$SELECT * FROM vecx_index_stats('docs_v')$$);
SELECT err($$SELECT vecx_index_check('docs_v')$$);
RESET ROLE;
RESET vecx.ivfpq_probes;
-- The introspection functions refuse relations that are not vecx indexes.
SELECT err($$SELECT vecx_index_check('docs')$$);
SELECT err($$SELECT vecx_index_check('docs_pkey')$$);
SELECT err($$SELECT * FROM vecx_index_stats(0)$$);
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE docs, docs_q, docs_exact;
DROP FUNCTION tenant_view();
DROP ROLE vecx_alice, vecx_bob, vecx_carol, vecx_nobody;
-- vecx is a trusted extension: a database owner who is not a superuser can install it (its
-- objects then belong to the bootstrap superuser) and use it.
CREATE ROLE vecx_dbowner LOGIN;
CREATE DATABASE vecx_trusted OWNER vecx_dbowner;
\c vecx_trusted vecx_dbowner
SELECT rolsuper FROM pg_roles WHERE rolname = current_user;
CREATE EXTENSION vecx;
SELECT e.extname, r.rolname AS extension_owner FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner WHERE e.extname = 'vecx';
CREATE TABLE mine (id int, v vecx(3));
INSERT INTO mine VALUES (1, '[1,2,3]'), (2, '[3,2,1]');
CREATE INDEX ON mine USING vecx_hnsw (v vecx_l2_ops);
SELECT id FROM mine ORDER BY v <-> '[1,2,2]' LIMIT 1;
\c vecx_regression postgres
DROP DATABASE vecx_trusted;
DROP ROLE vecx_dbowner;
