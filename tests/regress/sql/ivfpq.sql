-- vecx_ivfpq: build, search with re-ranking, recall against exact results, filters, options,
-- maintenance.
SELECT setseed(0.2);
CREATE TABLE p (id int PRIMARY KEY, cat int, v vecx(16));
-- 4,000 points around 12 clustered centres, and 50 queries from the same mixture.
CREATE TABLE pc AS
    SELECT c, array_agg((random() * 8 - 4)::real ORDER BY d) AS centre
    FROM generate_series(0, 11) c, generate_series(1, 16) d GROUP BY c;
INSERT INTO p SELECT i, i % 10,
    (SELECT array_agg(x + (random() - 0.5) ORDER BY d) FROM unnest(centre) WITH ORDINALITY u(x, d) WHERE i > 0)::vecx
    FROM generate_series(1, 4000) i JOIN pc ON c = i % 12;
CREATE TABLE pq AS SELECT i AS qid,
    (SELECT array_agg(x + (random() - 0.5) ORDER BY d) FROM unnest(centre) WITH ORDINALITY u(x, d) WHERE i > 0)::vecx AS v
    FROM generate_series(1, 50) i JOIN pc ON c = i % 12;
ANALYZE p;
CREATE TABLE pexact AS SELECT qid, x.id FROM pq,
    LATERAL (SELECT id FROM p ORDER BY v <-> pq.v LIMIT 10) x;
-- Default lists = min(rows / 50, 2 * sqrt(rows)) = 80; pq_m = 8 sub-quantizers of 8 bits (the
-- default, dims / 4, is tuned for real embeddings; 4 codes of 4 bytes are too coarse at 16
-- dimensions for the exact filtered comparison below).
CREATE INDEX p_l2 ON p USING vecx_ivfpq (v vecx_l2_ops) WITH (pq_m = 8);
SELECT vecx_index_check('p_l2');
SELECT rows, levels, deleted, lists, min_list > 0 AS no_empty_list, imbalance < 2 AS balanced
FROM vecx_index_stats('p_l2');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM p ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
-- Recall@10 probing a quarter of the lists, re-ranking 40 candidates exactly (the best 20 are
-- returned before the scan falls back to an exact pass).
SET vecx.ivfpq_probes = 20;
CREATE TABLE papprox AS SELECT qid, x.id FROM pq, LATERAL (SELECT id FROM p ORDER BY v <-> pq.v LIMIT 10) x;
SELECT count(*) AS rows, (SELECT count(*) FROM papprox a JOIN pexact e USING (qid, id)) / 500.0 >= 0.9 AS recall_at_least_09
FROM papprox;
-- Results come in exact distance order (they are re-ranked).
SELECT bool_and(ordered) AS in_order FROM (
    SELECT qid, (SELECT bool_and(d >= prev) FROM (
        SELECT d, lag(d, 1, '-Infinity'::float8) OVER () AS prev FROM (
            SELECT v <-> pq.v AS d FROM p ORDER BY v <-> pq.v LIMIT 10) a) b) AS ordered
    FROM pq) c;
-- A row finds itself first.
SELECT count(*) FILTER (WHERE (SELECT id FROM p p2 ORDER BY p2.v <-> p.v LIMIT 1) = p.id) >= 97 AS self_found_pct97
FROM (SELECT * FROM p ORDER BY id LIMIT 100) p;
-- Filters: min(10, matching rows) rows for every query, in distance order, even at 0.1%.
SET enable_bitmapscan = off;
SELECT count(*) AS queries, count(*) FILTER (WHERE n = 10) AS full_results
FROM (SELECT qid, (SELECT count(*) FROM (SELECT id FROM p WHERE cat = 3 ORDER BY v <-> pq.v LIMIT 10) s) AS n FROM pq) r;
SELECT count(*) FILTER (WHERE n = 4) AS exactly_four_of_four
FROM (SELECT qid, (SELECT count(*) FROM (SELECT id FROM p WHERE id % 1000 = 7 ORDER BY v <-> pq.v LIMIT 10) s) AS n FROM pq) r;
SELECT count(*) FILTER (WHERE ordered) AS filtered_in_order FROM (
    SELECT qid, (SELECT bool_and(d >= prev) FROM (
        SELECT d, lag(d, 1, '-Infinity'::float8) OVER () AS prev FROM (
            SELECT v <-> pq.v AS d FROM p WHERE cat = 3 ORDER BY v <-> pq.v LIMIT 50) a) b) AS ordered
    FROM pq) c;
SELECT count(*) FILTER (WHERE same) >= 45 AS filtered_match_45_of_50 FROM (
    SELECT qid,
        ARRAY(SELECT id FROM p WHERE cat = 3 ORDER BY v <-> pq.v LIMIT 10) =
        ARRAY(SELECT id FROM (SELECT id, v <-> pq.v AS d FROM p WHERE cat = 3 OFFSET 0) s ORDER BY d LIMIT 10) AS same
    FROM pq) x;
RESET enable_bitmapscan;
-- rerank = 0: rows in code order, still every row.
SET vecx.ivfpq_rerank = 0;
SELECT count(*) FROM (SELECT id FROM p ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10) s;
RESET vecx.ivfpq_rerank;
-- Settings have checked ranges.
SELECT err($$SET vecx.ivfpq_probes = -1$$);
SELECT err($$SET vecx.ivfpq_rerank = -1$$);
SELECT err($$SET vecx.ivfpq_rerank = 1001$$);
RESET vecx.ivfpq_probes;
-- Inserts after the build go to their nearest list; NULLs are not indexed; a wrong-size query errors.
INSERT INTO p VALUES (5001, 1, '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]'), (5002, 1, NULL);
SELECT id FROM p ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM p ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 10000) s;
SELECT err($$SELECT id FROM p ORDER BY v <-> '[1,2,3]' LIMIT 1$$);
SELECT err($$INSERT INTO p VALUES (6000, 1, '[1,2,3]')$$);
SELECT count(*) FROM (SELECT id FROM p ORDER BY v <-> NULL::vecx LIMIT 100000) s;
-- Delete half, vacuum: entries removed, recall holds, reinserts reuse the space.
CREATE TABLE pdel AS SELECT * FROM p WHERE id % 2 = 0;
DELETE FROM p WHERE id % 2 = 0;
VACUUM p;
SELECT vecx_index_check('p_l2');
SELECT rows FROM vecx_index_stats('p_l2');
SET vecx.ivfpq_probes = 20;
CREATE TABLE pexact2 AS SELECT qid, x.id FROM pq,
    LATERAL (SELECT id FROM (SELECT id, v <-> pq.v AS d FROM p OFFSET 0) s ORDER BY d LIMIT 10) x;
SELECT (SELECT count(*) FROM (SELECT qid, x.id FROM pq, LATERAL (SELECT id FROM p ORDER BY v <-> pq.v LIMIT 10) x) a
        JOIN pexact2 USING (qid, id)) / 500.0 >= 0.9 AS recall_after_vacuum;
RESET vecx.ivfpq_probes;
SELECT pg_relation_size('p_l2') AS ivf_size_after_vacuum \gset
-- The deleted rows come back (new ids): they fill the space vacuum freed in their lists.
INSERT INTO p SELECT id + 10000, cat, v FROM pdel;
SELECT pg_relation_size('p_l2') <= :ivf_size_after_vacuum * 1.1 AS reinsert_reuses_space;
SELECT vecx_index_check('p_l2');
-- Cosine and inner product; 4-bit codes; dimensions that do not divide evenly (16 = 3 * 5 + 1).
CREATE INDEX p_cos ON p USING vecx_ivfpq (v vecx_cosine_ops) WITH (lists = 8, pq_m = 5, pq_bits = 4);
CREATE INDEX p_ip ON p USING vecx_ivfpq (v vecx_ip_ops) WITH (lists = 8);
SELECT vecx_index_check('p_cos') AND vecx_index_check('p_ip') AS all_ok;
SELECT lists FROM vecx_index_stats('p_cos');
SET vecx.ivfpq_probes = 8;
SET vecx.ivfpq_rerank = 100;
SELECT (SELECT array_agg(d) FROM (SELECT v <=> pq.v AS d FROM p ORDER BY v <=> pq.v LIMIT 5) a) =
       (SELECT array_agg(d) FROM (SELECT d FROM (SELECT v <=> pq.v AS d FROM p OFFSET 0) s ORDER BY d LIMIT 5) b) AS cosine_top5_exact
FROM pq WHERE qid = 1;
DROP INDEX p_cos;
SELECT (SELECT array_agg(d) FROM (SELECT v <#> pq.v AS d FROM p ORDER BY v <#> pq.v LIMIT 5) a) =
       (SELECT array_agg(d) FROM (SELECT d FROM (SELECT v <#> pq.v AS d FROM p OFFSET 0) s ORDER BY d LIMIT 5) b) AS ip_top5_exact
FROM pq WHERE qid = 1;
DROP INDEX p_ip;
RESET vecx.ivfpq_probes;
RESET vecx.ivfpq_rerank;
-- Options: ranges, and what vecx_ivfpq does not support.
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 40000)$$);
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq (v vecx_l2_ops) WITH (pq_bits = 6)$$);
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq (v vecx_l2_ops) WITH (pq_m = 17)$$);
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq (v vecx_l2_ops) WITH (m = 16)$$);
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq (v vecx_l1_ops)$$);
SELECT err($$CREATE INDEX ON p USING vecx_ivfpq ((v + v) vecx_l2_ops)$$);
EXPLAIN (COSTS OFF) SELECT id FROM p WHERE id = 1;
RESET enable_seqscan;
-- Empty tables (untrained index, exact ranking), fewer rows than lists, unlogged tables,
-- TRUNCATE, REINDEX.
CREATE TABLE pe (v vecx(3));
CREATE INDEX pe_idx ON pe USING vecx_ivfpq (v vecx_l2_ops);
INSERT INTO pe VALUES ('[1,1,1]'), ('[2,2,2]'), ('[0,0,0]');
SET enable_seqscan = off;
SELECT v FROM pe ORDER BY v <-> '[1.9,2,2]' LIMIT 3;
SELECT rows, lists FROM vecx_index_stats('pe_idx');
TRUNCATE pe;
SELECT count(*) FROM (SELECT * FROM pe ORDER BY v <-> '[1,1,1]' LIMIT 3) s;
INSERT INTO pe SELECT ARRAY[i, i, i] FROM generate_series(1, 30) i;
REINDEX INDEX pe_idx;
SELECT rows, lists FROM vecx_index_stats('pe_idx');
SELECT v FROM pe ORDER BY v <-> '[20,20,20]' LIMIT 1;
REINDEX INDEX CONCURRENTLY pe_idx;
SELECT vecx_index_check('pe_idx');
CREATE TABLE pf (v vecx(2));
INSERT INTO pf SELECT ARRAY[i, -i] FROM generate_series(1, 7) i;
CREATE INDEX pf_idx ON pf USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 100);
SELECT rows, lists FROM vecx_index_stats('pf_idx');
SELECT v FROM pf ORDER BY v <-> '[3,-3]' LIMIT 2;
CREATE UNLOGGED TABLE pu (v vecx(2));
CREATE INDEX ON pu USING vecx_ivfpq (v vecx_l2_ops);
INSERT INTO pu SELECT ARRAY[i, -i] FROM generate_series(1, 50) i;
SELECT v FROM pu ORDER BY v <-> '[10,-10]' LIMIT 1;
-- Identical vectors and a zero vector under cosine.
CREATE TABLE ps (id int, v vecx(3));
INSERT INTO ps SELECT i, '[1,2,3]' FROM generate_series(1, 300) i;
INSERT INTO ps VALUES (0, '[0,0,0]');
CREATE INDEX ON ps USING vecx_ivfpq (v vecx_cosine_ops);
SELECT count(*) FROM (SELECT id FROM ps ORDER BY v <=> '[1,2,3]' LIMIT 1000) s;
-- A column without a dimension count: the training sample is budgeted for the vectors it
-- holds (1,024-d, 4 kB each), not for an assumed size. 8MB keeps a sample of 1,024 rows, a
-- NOTICE says so, and a second scan encodes every row.
CREATE TABLE pun (id int, v vecx);
INSERT INTO pun SELECT i, array_fill((i % 97)::real, ARRAY[1024])::vecx FROM generate_series(1, 2000) i;
SET maintenance_work_mem = '8MB';
CREATE INDEX pun_idx ON pun USING vecx_ivfpq (v vecx_l2_ops) WITH (lists = 4, pq_m = 16);
RESET maintenance_work_mem;
SELECT vecx_index_check('pun_idx'), (SELECT rows FROM vecx_index_stats('pun_idx'));
RESET enable_seqscan;
DROP TABLE p, pq, pc, pdel, pexact, pexact2, papprox, pe, pf, pu, ps, pun;
