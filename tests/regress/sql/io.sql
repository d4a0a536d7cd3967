-- Text input and output.
SELECT '[1,2,3]'::vecx;
SELECT '  [ 1 , 2.5 ,-3e-2 ]  '::vecx;
SELECT E'[\t1,\n2]'::vecx;
SELECT '[+4E+1, .5, -0, 1e-40]'::vecx;
SELECT '[1.5]'::vecx(1);
-- Output is the shortest text that reads back to the same float4, exactly as float4out prints.
SELECT '[3.4028235e38,-1.1754944e-38,1e-45,1234567,123456.7,0.00001,0.1]'::vecx;
SELECT count(*) AS mismatches
FROM (SELECT (random() * 2 - 1) * 10 ^ (random() * 70 - 35) AS x FROM generate_series(1, 5000)) s
WHERE ('[' || x::real::text || ']')::vecx::text <> '[' || x::real::text || ']'
   OR ('[' || x::real::text || ']')::vecx::text::vecx <> ('[' || x::real::text || ']')::vecx;
-- Every dimension count from 1 to 16000 is accepted; the typmod shows in \d and format_type.
SELECT vecx_dims(array_fill(1, ARRAY[16000])::vecx);
CREATE TABLE io_t (a vecx, b vecx(3));
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'io_t'::regclass AND attnum > 0 ORDER BY attnum;
INSERT INTO io_t VALUES ('[1]', '[1,2,3]'), (NULL, NULL);
SELECT * FROM io_t ORDER BY a;
-- Malformed text: 22P02.
SELECT err($$SELECT ''::vecx$$);
SELECT err($$SELECT '1,2'::vecx$$);
SELECT err($$SELECT '[1,2'::vecx$$);
SELECT err($$SELECT '[1,,2]'::vecx$$);
SELECT err($$SELECT '[1,2,]'::vecx$$);
SELECT err($$SELECT '[1 2]'::vecx$$);
SELECT err($$SELECT '[1,2]x'::vecx$$);
SELECT err($$SELECT '[1,2]]'::vecx$$);
SELECT err($$SELECT '[a]'::vecx$$);
SELECT err($$SELECT '[0x10]'::vecx$$);
SELECT err($$SELECT '[1,NULL]'::vecx$$);
-- Bad values: 22000 (NaN, infinity, empty), 22003 (out of float4 range).
SELECT err($$SELECT '[NaN]'::vecx$$);
SELECT err($$SELECT '[1,Infinity]'::vecx$$);
SELECT err($$SELECT '[-inf]'::vecx$$);
SELECT err($$SELECT '[]'::vecx$$);
SELECT err($$SELECT '[ ]'::vecx$$);
SELECT err($$SELECT '[1e39]'::vecx$$);
SELECT err($$SELECT '[-1e39]'::vecx$$);
SELECT err($$SELECT '[1e-50]'::vecx$$);
-- Limits: 54000.
SELECT err($$SELECT ('[' || repeat('1,', 16000) || '1]')::vecx$$);
-- Type modifier: checked on input, assignment and casts (22000); bad modifiers 22023.
SELECT err($$SELECT '[1,2]'::vecx(3)$$);
SELECT err($$INSERT INTO io_t (b) VALUES ('[1,2]')$$);
SELECT err($$INSERT INTO io_t (b) VALUES ('[1,2,3,4]'::vecx)$$);
SELECT err($$UPDATE io_t SET b = '[1,2]'::vecx$$);
SELECT err($$SELECT '[1,2]'::vecx::vecx(3)$$);
SELECT err($$CREATE TABLE bad_t (v vecx(0))$$);
SELECT err($$CREATE TABLE bad_t (v vecx(16001))$$);
SELECT err($$CREATE TABLE bad_t (v vecx(3, 4))$$);
SELECT err($$CREATE TABLE bad_t (v vecx('a'))$$);
SELECT '[1,2,3]'::vecx::vecx(3);
-- Binary send: int16 dims, int16 reserved, big-endian float4s (pgvector's layout).
SELECT vecx_send('[1,-2]');
-- Storage is external: TOAST-able, never compressed.
SELECT typstorage, typalign FROM pg_type WHERE typname = 'vecx';
CREATE TABLE toast_t (v vecx);
INSERT INTO toast_t SELECT array_fill(0.5, ARRAY[4000])::vecx;
SELECT vecx_dims(v), vecx_norm(v) FROM toast_t;
SELECT pg_column_size(v) FROM toast_t;
DROP TABLE io_t, toast_t;
