-- vecx bootstrap: the shell type, so the generated C functions can name it.
-- (CREATE EXTENSION runs with client_min_messages >= WARNING, so the "only a shell" notices
-- that creating functions over a shell type produces are not shown.)
CREATE TYPE vecx;
