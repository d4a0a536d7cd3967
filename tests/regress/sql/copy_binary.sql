-- Binary COPY round trip, through files in the data directory.
CREATE FUNCTION copy_file(stmt text, file text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(stmt, current_setting('data_directory') || '/' || file);
END
$$;
CREATE TABLE cp (id int, v vecx(3));
INSERT INTO cp SELECT i, ARRAY[i, -i * 0.5, 1e-3 * i]::vecx FROM generate_series(1, 1000) i;
INSERT INTO cp VALUES (0, NULL);
SELECT copy_file('COPY cp TO %L WITH (FORMAT binary)', 'vecx_regress_cp.bin');
CREATE TABLE cp2 (LIKE cp);
SELECT copy_file('COPY cp2 FROM %L WITH (FORMAT binary)', 'vecx_regress_cp.bin');
SELECT count(*) AS rows, count(*) FILTER (WHERE a.v IS NOT DISTINCT FROM b.v) AS identical
FROM cp a JOIN cp2 b USING (id);
-- The same in text format.
SELECT copy_file('COPY cp TO %L', 'vecx_regress_cp.txt');
TRUNCATE cp2;
SELECT copy_file('COPY cp2 FROM %L', 'vecx_regress_cp.txt');
SELECT count(*) FILTER (WHERE a.v IS NOT DISTINCT FROM b.v) AS identical FROM cp a JOIN cp2 b USING (id);
-- Hostile binary input: the raw bytes of a bytea column, copied in binary, reach vecx_recv as
-- they are. Truncated, oversized, NaN and non-zero reserved fields are all clean errors.
CREATE TABLE raw (b bytea);
CREATE TABLE target (v vecx);
CREATE FUNCTION recv_err(hex text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE raw; TRUNCATE target;
    INSERT INTO raw VALUES (decode(hex, 'hex'));
    PERFORM copy_file('COPY raw TO %L WITH (FORMAT binary)', 'vecx_regress_raw.bin');
    PERFORM copy_file('COPY target FROM %L WITH (FORMAT binary)', 'vecx_regress_raw.bin');
    RETURN (SELECT 'ok: ' || v::text FROM target);
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT recv_err('00020000' || '3f800000' || 'c0000000');  -- [1,-2]
SELECT recv_err('');                                      -- empty
SELECT recv_err('0002');                                  -- truncated header
SELECT recv_err('00020000' || '3f800000');                -- truncated elements
SELECT recv_err('00010000' || '3f800000' || '00');        -- trailing byte
SELECT recv_err('00000000');                              -- zero dimensions
SELECT recv_err('ffff0000');                              -- negative dimensions
SELECT recv_err('7fff0000');                              -- over 16000 dimensions
SELECT recv_err('00010001' || '3f800000');                -- reserved field not zero
SELECT recv_err('00010000' || '7fc00000');                -- NaN
SELECT recv_err('00010000' || '7f800000');                -- +Infinity
-- Random byte strings: every one is either accepted or rejected with a SQLSTATE, never a crash.
SELECT setseed(0.5);
SELECT count(*) AS cases,
       count(*) FILTER (WHERE NOT (r LIKE 'ok: %' OR r LIKE '22P03: %' OR r LIKE '22000: %' OR r LIKE '54000: %')) AS unclean
FROM (SELECT recv_err(CASE WHEN i % 3 = 0 THEN '0001' || '0000' ELSE '' END ||
                      (SELECT string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), '')
                       FROM generate_series(1, 1 + (i * 7) % 12) WHERE i > 0)) AS r
      FROM generate_series(1, 300) i) s;
-- The type modifier is enforced on binary input too.
CREATE TABLE target3 (v vecx(3));
SELECT copy_file('COPY (SELECT ''[1,2]''::vecx) TO %L WITH (FORMAT binary)', 'vecx_regress_v2.bin');
SELECT err(format('COPY target3 FROM %L WITH (FORMAT binary)', current_setting('data_directory') || '/vecx_regress_v2.bin'));
DROP TABLE cp, cp2, raw, target, target3;
DROP FUNCTION recv_err(text);
DROP FUNCTION copy_file(text, text);
