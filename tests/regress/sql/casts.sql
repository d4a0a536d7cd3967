-- Arrays to vecx (assignment casts) and back.
SELECT ARRAY[1,2,3]::vecx AS from_int, ARRAY[1.5,2.5]::real[]::vecx AS from_real,
       ARRAY[1.25,2.5]::float8[]::vecx AS from_float8, ARRAY[1.5,2.25]::numeric[]::vecx AS from_numeric;
SELECT '[1,2.5]'::vecx::real[] AS to_real, '[1,2.5]'::vecx::float8[] AS to_float8;
SELECT ARRAY[1,2,3]::vecx(3);
CREATE TABLE cast_t (v vecx(2), r real[]);
INSERT INTO cast_t VALUES (ARRAY[1,2], NULL), (ARRAY[3.5,4]::real[], NULL), (ARRAY[5,6]::float8[], NULL),
                          (ARRAY[7,8]::numeric[], NULL);
UPDATE cast_t SET r = v;
SELECT v, r FROM cast_t ORDER BY v;
-- Errors: NULL elements (22004), multi-dimensional arrays and bad values (22000),
-- out of float4 range (22003), empty arrays (22000), the type modifier (22000).
SELECT err($$SELECT ARRAY[1,NULL]::real[]::vecx$$);
SELECT err($$SELECT ARRAY[1,NULL]::int[]::vecx$$);
SELECT err($$SELECT ARRAY[[1,2],[3,4]]::real[]::vecx$$);
SELECT err($$SELECT ARRAY['NaN']::real[]::vecx$$);
SELECT err($$SELECT ARRAY['Infinity']::float8[]::vecx$$);
SELECT err($$SELECT ARRAY[1e300]::float8[]::vecx$$);
SELECT err($$SELECT ARRAY[1e-300]::float8[]::vecx$$);
SELECT err($$SELECT ARRAY[1e300]::numeric[]::vecx$$);
SELECT err($$SELECT '{}'::real[]::vecx$$);
SELECT err($$SELECT array_fill(1, ARRAY[16001])::vecx$$);
SELECT err($$SELECT ARRAY[1,2,3]::vecx(2)$$);
SELECT err($$INSERT INTO cast_t (v) VALUES (ARRAY[1,2,3])$$);
-- Casts are registered with the intended contexts (i = implicit, a = assignment).
SELECT castsource::regtype, casttarget::regtype, castcontext
FROM pg_cast WHERE castsource = 'vecx'::regtype OR casttarget = 'vecx'::regtype ORDER BY castsource::regtype::text, casttarget::regtype::text;
DROP TABLE cast_t;
