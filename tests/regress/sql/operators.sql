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
