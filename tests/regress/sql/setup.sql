-- Shared set-up for the regression suite: the extension, and a helper that runs a statement
-- and reports its SQLSTATE and message instead of failing, so every error path is checked
-- for the exact code (never XX000, the code of an internal error or panic).
CREATE EXTENSION vecx;
CREATE FUNCTION err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT extname, extversion FROM pg_extension WHERE extname = 'vecx';
