-- Distances.
SELECT '[1,2,3]'::vecx <-> '[4,5,6]' AS l2, l2_distance('[1,2,3]', '[4,5,6]');
SELECT vecx_l2_squared_distance('[1,2,3]', '[4,5,6]');
SELECT '[1,2,3]'::vecx <#> '[4,5,6]' AS neg_ip, inner_product('[1,2,3]', '[4,5,6]');
SELECT round(('[1,2,3]'::vecx <=> '[4,5,6]')::numeric, 7) AS cosine, round(cosine_distance('[1,2,3]', '[4,5,6]')::numeric, 7);
SELECT '[1,0]'::vecx <=> '[0,1]' AS orthogonal, round(('[1,1]'::vecx <=> '[-1,-1]')::numeric, 6) AS opposite,
       '[3,4]'::vecx <=> '[3,4]' AS same, '[0.1,0.2,0.3]'::vecx <=> '[0.1,0.2,0.3]' AS same_fraction;
-- Cosine distance with a zero vector is NaN (the angle is undefined).
SELECT '[0,0]'::vecx <=> '[1,2]' AS zero_left, cosine_distance('[1,2]', '[0,0]') AS zero_right;
SELECT '[1,2,3]'::vecx <+> '[4,5,6]' AS l1, l1_distance('[1,2,3]', '[-4,5,6]');
-- Kernels agree with SQL arithmetic on long vectors (SIMD tails included).
WITH v AS (
    SELECT n, array_agg(sin(i * n)::real ORDER BY i) AS a, array_agg(cos(i + n)::real ORDER BY i) AS b
    FROM generate_series(1, 40) n, LATERAL generate_series(1, n * 37) i GROUP BY n
), ref AS (
    SELECT n, a::vecx AS va, b::vecx AS vb,
           (SELECT sqrt(sum((x::float8 - y::float8) ^ 2)) FROM unnest(a, b) u(x, y)) AS l2,
           (SELECT sum(x::float8 * y::float8) FROM unnest(a, b) u(x, y)) AS ip,
           (SELECT sum(abs(x::float8 - y::float8)) FROM unnest(a, b) u(x, y)) AS l1,
           (SELECT 1 - sum(x::float8 * y::float8) / sqrt(sum(x::float8 ^ 2) * sum(y::float8 ^ 2)) FROM unnest(a, b) u(x, y)) AS cos
    FROM v
)
SELECT count(*) AS vectors,
       max(abs((va <-> vb) - l2) / l2) < 1e-5 AS l2_ok,
       max(abs((va <#> vb) + ip)) < 1e-3 AS ip_ok,
       max(abs((va <+> vb) - l1) / l1) < 1e-5 AS l1_ok,
       max(abs((va <=> vb) - cos)) < 1e-5 AS cos_ok
FROM ref;
-- Dimension mismatches: 22000.
SELECT err($$SELECT '[1,2,3]'::vecx <-> '[1,2,3,4]'$$);
SELECT err($$SELECT '[1,2,3]'::vecx <#> '[1,2]'$$);
SELECT err($$SELECT '[1,2,3]'::vecx <=> '[1]'$$);
SELECT err($$SELECT '[1,2,3]'::vecx <+> '[1,2]'$$);
SELECT err($$SELECT '[1,2,3]'::vecx + '[1,2]'$$);
-- Functions.
SELECT vecx_dims('[1,2,3]'), vecx_norm('[3,4]'), l2_normalize('[3,4]'), l2_normalize('[0,0]');
SELECT subvector('[1,2,3,4,5]', 2, 3), subvector('[1,2,3,4,5]', 4, 10), subvector('[1,2,3,4,5]', -1, 3);
SELECT err($$SELECT subvector('[1,2,3]', 4, 1)$$);
SELECT err($$SELECT subvector('[1,2,3]', 1, 0)$$);
SELECT err($$SELECT subvector('[1,2,3]', 2147483647, 2147483647)$$);
SELECT err($$SELECT subvector('[1,2,3]', -2147483648, 2147483647)$$);
-- Arithmetic and concatenation.
SELECT '[1,2,3]'::vecx + '[4,5,6]' AS add, '[1,2,3]'::vecx - '[4,5,6]' AS sub, '[1,2,3]'::vecx * '[4,5,6]' AS mul;
SELECT '[1,2]'::vecx || '[3]' AS concat;
SELECT err($$SELECT '[3e38]'::vecx + '[3e38]'$$);
SELECT err($$SELECT '[-3e38]'::vecx - '[3e38]'$$);
SELECT err($$SELECT '[1e30]'::vecx * '[1e30]'$$);
SELECT err($$SELECT '[1e-30]'::vecx * '[1e-30]'$$);
SELECT err($$SELECT array_fill(1, ARRAY[9000])::vecx || array_fill(1, ARRAY[9000])::vecx$$);
-- Comparisons: element by element, then the shorter first; -0 equals 0.
SELECT '[1,2]'::vecx < '[1,3]' AS lt, '[1,2]'::vecx <= '[1,2]' AS le, '[1,2]'::vecx = '[1,2]' AS eq,
       '[1,2]'::vecx <> '[1,2]' AS ne, '[1,3]'::vecx >= '[1,2]' AS ge, '[1,2,0]'::vecx > '[1,2]' AS gt,
       '[0]'::vecx = '[-0]' AS zeros;
SELECT vecx_cmp('[1,2]', '[1,3]'), vecx_cmp('[2]', '[1,3]'), vecx_cmp('[1]', '[1]');
-- NULL in, NULL out (STRICT).
SELECT NULL::vecx <-> '[1]' IS NULL AS strict_null, vecx_dims(NULL) IS NULL AS dims_null;
-- Every function is IMMUTABLE, STRICT and PARALLEL SAFE, except the index AM handler and the
-- index introspection functions (they read index pages, so they are STABLE).
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'vecx'
WHERE p.prokind = 'f' AND (p.provolatile <> 'i' OR p.proparallel <> 's' OR NOT p.proisstrict)
ORDER BY 1;
SELECT count(*) > 40 AS many_functions FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'vecx';
-- The distance functions read a value in place when it is plain (4-byte header), and detoast it
-- otherwise: a short (1-byte header, up to 30 dimensions, unaligned floats), out-of-line or
-- compressed value gives the same distances as its plain copy.
CREATE TABLE forms (id int, a vecx, b vecx);
INSERT INTO forms SELECT d * 100 + i, ARRAY(SELECT ((i * 7 + j * 13) % 17) - 8.5 FROM generate_series(1, d) j)::vecx,
       ARRAY(SELECT ((i * 5 + j * 3) % 11) - 4.25 FROM generate_series(1, d) j)::vecx
FROM generate_series(1, 40) i, (VALUES (3), (30), (31), (600)) dims(d);
INSERT INTO forms SELECT 100000 + i, ARRAY(SELECT CASE WHEN j = i THEN 1 ELSE 0 END FROM generate_series(1, 900) j)::vecx,
       ARRAY(SELECT CASE WHEN j % 100 = i THEN 2 ELSE 0 END FROM generate_series(1, 900) j)::vecx
FROM generate_series(1, 5) i;
CREATE TABLE forms_plain (LIKE forms);
ALTER TABLE forms_plain ALTER COLUMN a SET STORAGE PLAIN, ALTER COLUMN b SET STORAGE PLAIN;
INSERT INTO forms_plain SELECT * FROM forms;
ALTER TABLE forms ALTER COLUMN a SET STORAGE MAIN;
INSERT INTO forms SELECT id + 1000000, a, b FROM forms WHERE id > 100000;
SELECT pg_column_size(a) < 1000 AS compressed FROM forms WHERE id = 1100001;
SELECT count(*) AS rows, count(*) FILTER (WHERE pg_column_size(f.a) < 127) AS short_values,
       count(*) FILTER (WHERE f.id > 1000000) AS compressed_values,
       (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE relname = 'forms') AS toasted
FROM forms f;
SELECT count(*) AS pairs, count(*) FILTER (WHERE
      (f.a <-> f.b) IS DISTINCT FROM (p.a <-> p.b) OR (f.a <#> f.b) IS DISTINCT FROM (p.a <#> p.b)
   OR (f.a <=> f.b) IS DISTINCT FROM (p.a <=> p.b) OR (f.a <+> f.b) IS DISTINCT FROM (p.a <+> p.b)
   OR vecx_l2_squared_distance(f.a, f.b) IS DISTINCT FROM vecx_l2_squared_distance(p.a, p.b)
   OR inner_product(f.a, p.b) IS DISTINCT FROM inner_product(p.a, f.b)) AS differing
FROM forms f JOIN forms_plain p ON p.id = f.id % 1000000;
SELECT sum(a <-> b)::numeric(12, 3) AS l2_sum FROM forms_plain;
DROP TABLE forms, forms_plain;
