-- btree: ORDER BY, UNIQUE, index scans.
CREATE TABLE bt (id int, v vecx);
INSERT INTO bt VALUES (1, '[3,1]'), (2, '[1,2]'), (3, '[1,2,0]'), (4, '[1]'), (5, '[-0,5]'), (6, '[0,5]');
SELECT id, v FROM bt ORDER BY v, id;
SELECT count(DISTINCT v) FROM bt;
SELECT min(id), count(*) FROM bt GROUP BY v ORDER BY min(id);
CREATE INDEX bt_v ON bt USING btree (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bt WHERE v = '[1,2]';
SELECT id FROM bt WHERE v = '[1,2]';
SELECT id FROM bt WHERE v > '[1,2]' ORDER BY v, id;
RESET enable_seqscan;
CREATE TABLE uq (v vecx UNIQUE);
INSERT INTO uq VALUES ('[1,2]');
SELECT err($$INSERT INTO uq VALUES ('[1,2]')$$);
SELECT err($$INSERT INTO uq VALUES ('[1.0, 2.0]')$$);
INSERT INTO uq VALUES ('[1,2,3]');
-- hash: hash aggregation, hash joins and hash indexes; equal vectors hash equally (-0 = 0).
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT v, count(*) FROM bt GROUP BY v;
SELECT min(id), max(id), count(*) FROM bt GROUP BY v ORDER BY 3 DESC, 1 LIMIT 1;
RESET enable_sort;
SELECT vecx_hash('[0,5]') = vecx_hash('[-0,5]') AS zero_hash, vecx_hash('[1,2]') <> vecx_hash('[2,1]') AS differs,
       vecx_hash_extended('[1,2]', 0)::bit(32) = vecx_hash('[1,2]')::bit(32) AS low_bits;
CREATE INDEX bt_hash ON bt USING hash (v);
SET enable_seqscan = off;
SET enable_indexscan = on;
DROP INDEX bt_v;
EXPLAIN (COSTS OFF) SELECT id FROM bt WHERE v = '[0,5]';
SELECT id FROM bt WHERE v = '[0,5]' ORDER BY id;
RESET enable_seqscan;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT a.id, b.id FROM bt a JOIN bt b ON a.v = b.v WHERE a.id < b.id;
SELECT a.id, b.id FROM bt a JOIN bt b ON a.v = b.v WHERE a.id < b.id;
RESET ALL;
DROP TABLE bt, uq;
