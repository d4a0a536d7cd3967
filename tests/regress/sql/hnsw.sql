-- vecx_hnsw: build, search, recall against exact results, filters, options, maintenance.
SELECT setseed(0.1);
CREATE TABLE h (id int PRIMARY KEY, cat int, v vecx(16));
-- 3,000 points around 12 clustered centres, and 50 queries from the same mixture.
CREATE TABLE centres AS
    SELECT c, array_agg((random() * 8 - 4)::real ORDER BY d) AS centre
    FROM generate_series(0, 11) c, generate_series(1, 16) d GROUP BY c;
INSERT INTO h SELECT i, i % 10,
    (SELECT array_agg(x + (random() - 0.5) ORDER BY d) FROM unnest(centre) WITH ORDINALITY u(x, d) WHERE i > 0)::vecx
    FROM generate_series(1, 3000) i JOIN centres ON c = i % 12;
CREATE TABLE hq AS SELECT i AS qid,
    (SELECT array_agg(x + (random() - 0.5) ORDER BY d) FROM unnest(centre) WITH ORDINALITY u(x, d) WHERE i > 0)::vecx AS v
    FROM generate_series(1, 50) i JOIN centres ON c = i % 12;
ANALYZE h;
-- Exact answers first (no index yet).
CREATE TABLE exact AS SELECT qid, x.id, x.rank FROM hq,
    LATERAL (SELECT id, row_number() OVER () AS rank FROM (SELECT id FROM h ORDER BY v <-> hq.v LIMIT 10) s) x;
CREATE INDEX h_l2 ON h USING vecx_hnsw (v vecx_l2_ops);
SELECT vecx_index_check('h_l2');
SELECT rows, levels > 0 AS has_levels, deleted, pages > 10 AS has_pages FROM vecx_index_stats('h_l2');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM h ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
-- Recall@10 with the default ef_search (40).
CREATE TABLE approx AS SELECT qid, x.id FROM hq, LATERAL (SELECT id FROM h ORDER BY v <-> hq.v LIMIT 10) x;
SELECT count(*) AS rows, (SELECT count(*) FROM approx a JOIN exact e USING (qid, id)) / 500.0 >= 0.95 AS recall_at_least_095
FROM approx;
-- A row finds itself first. (With a wide search: these 12 clusters are tight and far apart,
-- where default-width HNSW self-recall depends on which rows draw the upper levels, i.e. on the
-- index OID that seeds them; see benches/tests/multiprocess.rs.)
SET vecx.hnsw_ef_search = 200;
SELECT count(*) FILTER (WHERE (SELECT id FROM h h2 ORDER BY h2.v <-> h.v LIMIT 1) = h.id) >= 97 AS self_found_pct97
FROM (SELECT * FROM h ORDER BY id LIMIT 100) h;
RESET vecx.hnsw_ef_search;
-- Filters: the scan keeps going while the executor discards rows, so every query returns
-- min(10, matching rows) rows, in distance order, even at 0.1% selectivity (3 rows match).
SET enable_bitmapscan = off;
SELECT count(*) AS queries,
       count(*) FILTER (WHERE n = 10) AS full_results
FROM (SELECT qid, (SELECT count(*) FROM (SELECT id FROM h WHERE cat = 3 ORDER BY v <-> hq.v LIMIT 10) s) AS n FROM hq) r;
SELECT count(*) FILTER (WHERE n = 3) AS exactly_three_of_three
FROM (SELECT qid, (SELECT count(*) FROM (SELECT id FROM h WHERE id % 1000 = 7 ORDER BY v <-> hq.v LIMIT 10) s) AS n FROM hq) r;
SELECT bool_and(ordered) AS all_in_distance_order FROM (
    SELECT qid, (SELECT bool_and(d >= prev) FROM (
        SELECT d, lag(d, 1, '-Infinity'::float8) OVER () AS prev FROM (
            SELECT v <-> hq.v AS d FROM h WHERE cat = 3 ORDER BY v <-> hq.v LIMIT 50) a) b) AS ordered
    FROM hq) c;
-- Filtered results equal the exact filtered answer on nearly every query.
SELECT count(*) FILTER (WHERE same) >= 45 AS filtered_match_45_of_50 FROM (
    SELECT qid,
        ARRAY(SELECT id FROM h WHERE cat = 3 ORDER BY v <-> hq.v LIMIT 10) =
        ARRAY(SELECT id FROM (SELECT id, v <-> hq.v AS d FROM h WHERE cat = 3 OFFSET 0) s ORDER BY d LIMIT 10) AS same
    FROM hq) x;
RESET enable_bitmapscan;
-- ef_search is a setting with a checked range.
SET vecx.hnsw_ef_search = 200;
SHOW vecx.hnsw_ef_search;
SELECT err($$SET vecx.hnsw_ef_search = 0$$);
SELECT err($$SET vecx.hnsw_ef_search = 1001$$);
SELECT err($$SET vecx.hnsw_efsearch = 10$$);
RESET vecx.hnsw_ef_search;
-- ef_search below 10 narrows the search but still takes 10 rows from the graph: LIMIT 10 needs
-- no exact pass (which max_scan_tuples = 1,500 would cut short on these 3,000 rows), and the
-- results stay close to exact.
SET vecx.hnsw_ef_search = 3;
SET vecx.max_scan_tuples = 1500;
CREATE TABLE approx3 AS SELECT qid, x.id FROM hq, LATERAL (SELECT id FROM h ORDER BY v <-> hq.v LIMIT 10) x;
SELECT count(*) AS rows, (SELECT count(*) FROM approx3 a JOIN exact e USING (qid, id)) / 500.0 >= 0.80 AS recall_at_least_080
FROM approx3;
DROP TABLE approx3;
RESET vecx.max_scan_tuples;
RESET vecx.hnsw_ef_search;
-- Inserts after the build are searchable; NULLs are not indexed; a query of the wrong size errors.
INSERT INTO h VALUES (5001, 1, '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]'), (5002, 1, NULL);
SELECT id FROM h ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM h ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' LIMIT 10000) s;
SELECT err($$SELECT id FROM h ORDER BY v <-> '[1,2,3]' LIMIT 1$$);
SELECT count(*) FROM (SELECT id FROM h ORDER BY v <-> NULL LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM h ORDER BY v <-> NULL::vecx LIMIT 100000) s;
-- Delete half, vacuum: the graph is repaired, recall holds, the space is reused.
DELETE FROM h WHERE id % 2 = 0;
VACUUM h;
SELECT vecx_index_check('h_l2');
SELECT rows, deleted FROM vecx_index_stats('h_l2');
CREATE TABLE exact2 AS SELECT qid, x.id FROM hq,
    LATERAL (SELECT id FROM (SELECT id, v <-> hq.v AS d FROM h OFFSET 0) s ORDER BY d LIMIT 10) x;
SELECT (SELECT count(*) FROM (SELECT qid, x.id FROM hq, LATERAL (SELECT id FROM h ORDER BY v <-> hq.v LIMIT 10) x) a
        JOIN exact2 USING (qid, id)) / 500.0 >= 0.9 AS recall_after_vacuum;
SELECT pg_relation_size('h_l2') AS size_after_first_vacuum \gset
INSERT INTO h SELECT id + 10000, cat, v FROM h WHERE id % 2 = 1 AND id < 10000;
SELECT pg_relation_size('h_l2') <= :size_after_first_vacuum * 1.1 AS reinsert_reuses_space;
SELECT vecx_index_check('h_l2');
-- Other operator classes.
CREATE INDEX h_cos ON h USING vecx_hnsw (v vecx_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX h_ip ON h USING vecx_hnsw (v vecx_ip_ops);
CREATE INDEX h_l1 ON h USING vecx_hnsw (v vecx_l1_ops);
SELECT vecx_index_check('h_cos') AND vecx_index_check('h_ip') AND vecx_index_check('h_l1') AS all_ok;
EXPLAIN (COSTS OFF) SELECT id FROM h ORDER BY v <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 3;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM h ORDER BY v <=> hq.v LIMIT 5) a) =
       (SELECT array_agg(id) FROM (SELECT id FROM (SELECT id, v <=> hq.v AS d FROM h OFFSET 0) s ORDER BY d LIMIT 5) b) AS cosine_top5_exact
FROM hq WHERE qid = 1;
DROP INDEX h_cos, h_ip, h_l1;
-- Options: ranges and their relation.
SELECT err($$CREATE INDEX ON h USING vecx_hnsw (v vecx_l2_ops) WITH (m = 1)$$);
SELECT err($$CREATE INDEX ON h USING vecx_hnsw (v vecx_l2_ops) WITH (m = 101)$$);
SELECT err($$CREATE INDEX ON h USING vecx_hnsw (v vecx_l2_ops) WITH (ef_construction = 2000)$$);
SELECT err($$CREATE INDEX ON h USING vecx_hnsw (v vecx_l2_ops) WITH (m = 40, ef_construction = 50)$$);
SELECT err($$CREATE INDEX ON h USING vecx_hnsw (v vecx_l2_ops) WITH (lists = 5)$$);
-- Without ORDER BY the index is not used.
EXPLAIN (COSTS OFF) SELECT id FROM h WHERE id = 1;
RESET enable_seqscan;
-- Empty tables, unlogged tables, TRUNCATE, REINDEX, large dimensions.
CREATE TABLE e (v vecx(3));
CREATE INDEX e_idx ON e USING vecx_hnsw (v vecx_l2_ops);
SELECT count(*) FROM (SELECT * FROM e ORDER BY v <-> '[1,1,1]' LIMIT 3) s;
INSERT INTO e VALUES ('[1,1,1]'), ('[2,2,2]'), ('[0,0,0]');
SET enable_seqscan = off;
SELECT v FROM e ORDER BY v <-> '[1.9,2,2]' LIMIT 3;
TRUNCATE e;
SELECT count(*) FROM (SELECT * FROM e ORDER BY v <-> '[1,1,1]' LIMIT 3) s;
INSERT INTO e SELECT ARRAY[i, i, i] FROM generate_series(1, 100) i;
REINDEX INDEX e_idx;
SELECT v FROM e ORDER BY v <-> '[50,50,50]' LIMIT 1;
REINDEX INDEX CONCURRENTLY e_idx;
SELECT vecx_index_check('e_idx');
CREATE UNLOGGED TABLE u (v vecx(2));
CREATE INDEX ON u USING vecx_hnsw (v vecx_l2_ops);
INSERT INTO u SELECT ARRAY[i, -i] FROM generate_series(1, 50) i;
SELECT v FROM u ORDER BY v <-> '[10,-10]' LIMIT 1;
-- A temporary table's index lives in local buffers; scans re-pin blocks through the buffer
-- they were last found in (ReadRecentBuffer), which must also hold for local buffers, and
-- after REINDEX (same index OID, new file) the remembered buffers are stale.
CREATE TEMP TABLE tt AS
  SELECT i AS id, ARRAY[i, i % 7]::vecx(2) AS v FROM generate_series(1, 3000) i;
CREATE INDEX tt_idx ON tt USING vecx_hnsw (v vecx_l2_ops);
SELECT id FROM tt ORDER BY v <-> '[1000.2,6]' LIMIT 3;
SELECT id FROM tt ORDER BY v <-> '[1000.2,6]' LIMIT 3;
REINDEX INDEX tt_idx;
SELECT id FROM tt ORDER BY v <-> '[2000.2,5]' LIMIT 3;
SELECT vecx_index_check('tt_idx');
DROP TABLE tt;
CREATE TABLE big (id int, v vecx(4096));
INSERT INTO big SELECT i, array_fill(i::real, ARRAY[4096])::vecx FROM generate_series(1, 30) i;
CREATE INDEX big_idx ON big USING vecx_hnsw (v vecx_l2_ops);
SELECT id FROM big ORDER BY v <-> array_fill(7.2::real, ARRAY[4096])::vecx LIMIT 3;
INSERT INTO big VALUES (31, array_fill(100::real, ARRAY[4096])::vecx);
SELECT id FROM big ORDER BY v <-> array_fill(99::real, ARRAY[4096])::vecx LIMIT 1;
SELECT vecx_index_check('big_idx');
-- The type's limit: 16,000 dimensions (each vector on 8 pages of its own).
CREATE TABLE huge (id int, v vecx(16000));
INSERT INTO huge SELECT i, array_fill(i::real, ARRAY[16000])::vecx FROM generate_series(1, 12) i;
CREATE INDEX huge_idx ON huge USING vecx_hnsw (v vecx_cosine_ops);
INSERT INTO huge SELECT 13, array_fill(-1::real, ARRAY[16000])::vecx;
SELECT id FROM huge ORDER BY v <=> array_fill(-2::real, ARRAY[16000])::vecx LIMIT 1;
SELECT vecx_index_check('huge_idx'), (SELECT rows FROM vecx_index_stats('huge_idx'));
-- More than 32 MB of vectors (17,000 x 512-d, 64 clusters): the build stores and inserts them
-- in locality order (runs of neighbouring elements, the runs shuffled). Every row is indexed,
-- the structure checks out, and rows find themselves first.
CREATE TABLE local (id int, v vecx(512));
INSERT INTO local SELECT i, (SELECT array_agg(3 * sin((i % 64) * 1.3 + d * 0.7) + 0.3 * sin(i * 0.917 + d * 1.1))
  FROM generate_series(1, 512) d)::vecx FROM generate_series(1, 17000) i;
CREATE INDEX local_idx ON local USING vecx_hnsw (v vecx_l2_ops);
SELECT vecx_index_check('local_idx'), (SELECT rows FROM vecx_index_stats('local_idx'));
SELECT count(*) >= 196 AS self_found FROM (SELECT id, v FROM local WHERE id % 85 = 0) q
  WHERE (SELECT l.id FROM local l ORDER BY l.v <-> q.v LIMIT 1) = q.id;
DROP TABLE local;
-- Identical vectors and zero vectors under cosine.
CREATE TABLE same (id int, v vecx(3));
INSERT INTO same SELECT i, '[1,2,3]' FROM generate_series(1, 300) i;
INSERT INTO same VALUES (0, '[0,0,0]');
CREATE INDEX ON same USING vecx_hnsw (v vecx_cosine_ops);
SELECT count(*) FROM (SELECT id FROM same ORDER BY v <=> '[1,2,3]' LIMIT 1000) s;
-- A column without a dimension count: maintenance_work_mem is budgeted for the vectors it
-- holds (1,024-d here, 4.5 kB each in memory), not for an assumed size. 8MB holds 1,859 of
-- them; the rest are inserted one by one after a NOTICE, and every row is indexed.
CREATE TABLE untyped (id int, v vecx);
INSERT INTO untyped SELECT i, array_fill((i % 97)::real, ARRAY[1024])::vecx FROM generate_series(1, 2000) i;
SET maintenance_work_mem = '8MB';
CREATE INDEX untyped_idx ON untyped USING vecx_hnsw (v vecx_l2_ops);
RESET maintenance_work_mem;
SELECT vecx_index_check('untyped_idx'), (SELECT rows FROM vecx_index_stats('untyped_idx'));
SELECT count(*) FROM (SELECT id FROM untyped ORDER BY v <-> array_fill(5::real, ARRAY[1024])::vecx LIMIT 25) s
  WHERE id % 97 = 5;
-- Traversal codes: where element pages leave room for them (384-d here) and the built graph
-- shows they pay, indexes store a 4-bit code with every element, from the build and from
-- later inserts: L2, inner product and cosine (not for a zero vector, whose cosine distance
-- is NaN); L1 indexes none. Pixel-like data (glyphs, values 0 or 100-255) gets them; random
-- vectors, whose distances crowd together, do not (codes would settle almost no neighbour).
-- A search drops a neighbour when its code's lower bound already exceeds the search's
-- bound, so it returns exactly what it returns reading every vector.
CREATE TABLE coded (id int, v vecx(384));
INSERT INTO coded SELECT i, (SELECT array_agg(CASE WHEN (d % 24) - (i / 10) % 8 BETWEEN 0 AND 15
    AND hashint4((i % 10) * 1000 + (d / 24) * 16 + (d % 24) - (i / 10) % 8) % 3 = 0
    THEN (100 + abs(hashint4(i * 384 + d)) % 156)::real ELSE 0 END) FROM generate_series(0, 383) d)::vecx
  FROM generate_series(1, 1500) i;
CREATE INDEX coded_l2 ON coded USING vecx_hnsw (v vecx_l2_ops);
CREATE INDEX coded_ip ON coded USING vecx_hnsw (v vecx_ip_ops);
CREATE INDEX coded_cos ON coded USING vecx_hnsw (v vecx_cosine_ops);
CREATE INDEX coded_l1 ON coded USING vecx_hnsw (v vecx_l1_ops);
INSERT INTO coded SELECT i, (SELECT array_agg(CASE WHEN (d % 24) - (i / 10) % 8 BETWEEN 0 AND 15
    AND hashint4((i % 10) * 1000 + (d / 24) * 16 + (d % 24) - (i / 10) % 8) % 3 = 0
    THEN (100 + abs(hashint4(i * 384 + d)) % 156)::real ELSE 0 END) FROM generate_series(0, 383) d)::vecx
  FROM generate_series(1501, 1800) i;
INSERT INTO coded VALUES (0, array_fill(0::real, ARRAY[384])::vecx);
CREATE TABLE uncoded (id int, v vecx(384));
INSERT INTO uncoded SELECT i, (SELECT array_agg((hashint4(i * 384 + d) % 1000)::real / 1000)
  FROM generate_series(1, 384) d)::vecx FROM generate_series(1, 1500) i;
CREATE INDEX uncoded_l2 ON uncoded USING vecx_hnsw (v vecx_l2_ops);
SELECT i AS index, s.rows, s.coded, vecx_index_check(i)
  FROM unnest('{coded_l2,coded_ip,coded_cos,coded_l1,uncoded_l2}'::regclass[]) i, vecx_index_stats(i) s;
SET vecx.hnsw_ef_search = 5;
CREATE TEMP TABLE with_codes AS SELECT q.id,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <-> q.v LIMIT 10) l2,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <#> q.v LIMIT 10) ip,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <=> q.v LIMIT 10) cos
  FROM coded q WHERE q.id % 30 = 0 AND q.id > 0;
SET vecx.hnsw_traversal_codes = off;
CREATE TEMP TABLE without_codes AS SELECT q.id,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <-> q.v LIMIT 10) l2,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <#> q.v LIMIT 10) ip,
    ARRAY(SELECT c.id FROM coded c ORDER BY c.v <=> q.v LIMIT 10) cos
  FROM coded q WHERE q.id % 30 = 0 AND q.id > 0;
RESET vecx.hnsw_traversal_codes;
RESET vecx.hnsw_ef_search;
SELECT count(*) AS queries, count(*) FILTER (WHERE a.l2 = b.l2) AS same_l2,
       count(*) FILTER (WHERE a.ip = b.ip) AS same_ip, count(*) FILTER (WHERE a.cos = b.cos) AS same_cos,
       count(*) FILTER (WHERE a.l2[1] = a.id) >= 57 AS l2_found_themselves,
       count(*) FILTER (WHERE a.cos[1] = a.id) >= 57 AS cos_found_themselves
  FROM with_codes a JOIN without_codes b USING (id);
RESET enable_seqscan;
SELECT err($$SELECT vecx_index_stats('h')$$);
DROP TABLE h, hq, centres, exact, exact2, approx, e, u, big, huge, same, untyped, coded, uncoded;
