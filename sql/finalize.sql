-- vecx finalize: complete the type, then operators, operator classes, casts and aggregates.

CREATE TYPE vecx (
    INPUT          = vecx_in,
    OUTPUT         = vecx_out,
    TYPMOD_IN      = vecx_typmod_in,
    TYPMOD_OUT     = vecx_typmod_out,
    RECEIVE        = vecx_recv,
    SEND           = vecx_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT      = int4,
    STORAGE        = external
);
COMMENT ON TYPE vecx IS 'float4 vector of 1 to 16000 dimensions; vecx(n) fixes the dimension count';

-- Distance functions (plain C functions, see src/distance.rs) ------------------------------------
CREATE FUNCTION l2_distance(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'l2_distance_wrapper';
CREATE FUNCTION vecx_l2_squared_distance(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'vecx_l2_squared_distance_wrapper';
CREATE FUNCTION inner_product(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'inner_product_wrapper';
CREATE FUNCTION vecx_negative_inner_product(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'vecx_negative_inner_product_wrapper';
CREATE FUNCTION cosine_distance(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'cosine_distance_wrapper';
CREATE FUNCTION l1_distance(a vecx, b vecx) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'l1_distance_wrapper';

-- Distance operators -------------------------------------------------------------------------
CREATE OPERATOR <-> (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = l1_distance, COMMUTATOR = '<+>');

-- Arithmetic -----------------------------------------------------------------------------------
CREATE OPERATOR + (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_sub);
CREATE OPERATOR * (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_concat);

-- Comparison, btree and hash -------------------------------------------------------------------
CREATE OPERATOR < (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_lt, COMMUTATOR = >, NEGATOR = >=,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_le, COMMUTATOR = >=, NEGATOR = >,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_eq, COMMUTATOR = =, NEGATOR = <>,
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR <> (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_ne, COMMUTATOR = <>, NEGATOR = =,
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_ge, COMMUTATOR = <=, NEGATOR = <,
    RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = vecx, RIGHTARG = vecx, FUNCTION = vecx_gt, COMMUTATOR = <, NEGATOR = <=,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS vecx_ops DEFAULT FOR TYPE vecx USING btree AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 vecx_cmp(vecx, vecx);

CREATE OPERATOR CLASS vecx_hash_ops DEFAULT FOR TYPE vecx USING hash AS
    OPERATOR 1 =,
    FUNCTION 1 vecx_hash(vecx),
    FUNCTION 2 vecx_hash_extended(vecx, bigint);

-- Casts ----------------------------------------------------------------------------------------
CREATE FUNCTION int_array_to_vecx(integer[], integer, boolean) RETURNS vecx
    AS 'SELECT @extschema@.array_to_vecx($1::real[], $2, $3)'
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION numeric_array_to_vecx(numeric[], integer, boolean) RETURNS vecx
    AS 'SELECT @extschema@.array_to_vecx($1::real[], $2, $3)'
    LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (vecx AS vecx) WITH FUNCTION vecx(vecx, integer, boolean) AS IMPLICIT;
CREATE CAST (real[] AS vecx) WITH FUNCTION array_to_vecx(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS vecx) WITH FUNCTION float8_array_to_vecx(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS vecx) WITH FUNCTION int_array_to_vecx(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS vecx) WITH FUNCTION numeric_array_to_vecx(numeric[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (vecx AS real[]) WITH FUNCTION vecx_to_float4(vecx) AS ASSIGNMENT;
CREATE CAST (vecx AS double precision[]) WITH FUNCTION vecx_to_float8(vecx) AS ASSIGNMENT;

-- Aggregates -----------------------------------------------------------------------------------
CREATE AGGREGATE avg(vecx) (
    SFUNC = vecx_accum, STYPE = double precision[], FINALFUNC = vecx_avg,
    COMBINEFUNC = vecx_combine, INITCOND = '{0}', PARALLEL = SAFE
);
CREATE AGGREGATE sum(vecx) (
    SFUNC = vecx_accum, STYPE = double precision[], FINALFUNC = vecx_sum,
    COMBINEFUNC = vecx_combine, INITCOND = '{0}', PARALLEL = SAFE
);

-- vecx_hnsw: the HNSW index access method -------------------------------------------------------
CREATE FUNCTION vecx_hnsw_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'vecx_hnsw_handler_wrapper' LANGUAGE C;
CREATE ACCESS METHOD vecx_hnsw TYPE INDEX HANDLER vecx_hnsw_handler;
COMMENT ON ACCESS METHOD vecx_hnsw IS 'HNSW graph index for vecx nearest-neighbour search';

CREATE OPERATOR CLASS vecx_l2_ops FOR TYPE vecx USING vecx_hnsw AS
    OPERATOR 1 <-> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(vecx, vecx);
CREATE OPERATOR CLASS vecx_ip_ops FOR TYPE vecx USING vecx_hnsw AS
    OPERATOR 1 <#> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 vecx_negative_inner_product(vecx, vecx);
CREATE OPERATOR CLASS vecx_cosine_ops FOR TYPE vecx USING vecx_hnsw AS
    OPERATOR 1 <=> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(vecx, vecx);
CREATE OPERATOR CLASS vecx_l1_ops FOR TYPE vecx USING vecx_hnsw AS
    OPERATOR 1 <+> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(vecx, vecx);

-- vecx_ivfpq: inverted lists + product quantization ----------------------------------------------
CREATE FUNCTION vecx_ivfpq_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'vecx_ivfpq_handler_wrapper' LANGUAGE C;
CREATE ACCESS METHOD vecx_ivfpq TYPE INDEX HANDLER vecx_ivfpq_handler;
COMMENT ON ACCESS METHOD vecx_ivfpq IS 'IVF-PQ index (inverted lists of product-quantized codes) for vecx nearest-neighbour search';

CREATE OPERATOR CLASS vecx_l2_ops FOR TYPE vecx USING vecx_ivfpq AS
    OPERATOR 1 <-> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(vecx, vecx);
CREATE OPERATOR CLASS vecx_ip_ops FOR TYPE vecx USING vecx_ivfpq AS
    OPERATOR 1 <#> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 vecx_negative_inner_product(vecx, vecx);
CREATE OPERATOR CLASS vecx_cosine_ops FOR TYPE vecx USING vecx_ivfpq AS
    OPERATOR 1 <=> (vecx, vecx) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(vecx, vecx);

-- Introspection (both access methods) -------------------------------------------------------------
CREATE FUNCTION vecx_index_stats(index regclass)
    RETURNS TABLE (rows bigint, levels integer, deleted bigint, pages bigint, bytes bigint,
                   lists integer, min_list bigint, max_list bigint, imbalance double precision,
                   coded bigint)
    AS 'MODULE_PATHNAME', 'vecx_index_stats_wrapper' LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION vecx_index_stats(regclass) IS 'live rows, pages and bytes of a vecx index, with levels, deleted elements and elements with a traversal code (vecx_hnsw) or list sizes and imbalance (vecx_ivfpq); requires SELECT on its table';
CREATE FUNCTION vecx_index_check(index regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'vecx_index_check_wrapper' LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION vecx_index_check(regclass) IS 'verifies the structure of a vecx index: true, or an "index is corrupted" error naming the problem';
