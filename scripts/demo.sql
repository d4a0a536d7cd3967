-- The example session run by scripts/demo.sh: a table of documents with embeddings,
-- nearest-neighbour search, a filtered search, and a few functions.
\echo '--- vecx version'
CREATE EXTENSION IF NOT EXISTS vecx;
SELECT extversion FROM pg_extension WHERE extname = 'vecx';

\echo '--- the README example'
CREATE TABLE items (id bigserial PRIMARY KEY, body text, embedding vecx(3));
INSERT INTO items (body, embedding) VALUES ('a', '[1,2,3]'), ('b', '[4,5,6]');
SELECT id, embedding <-> '[3,1,2]' AS dist FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 5;

\echo '--- loading 5,000 generated 64-d documents in 8 clusters'
SELECT setseed(0.42) \gset
CREATE TABLE docs (
    id        int PRIMARY KEY,
    category  int NOT NULL,
    title     text NOT NULL,
    embedding vecx(64) NOT NULL
);
WITH centers AS (
    SELECT c, array_agg(random() * 10 ORDER BY d) AS center
    FROM generate_series(0, 7) c, generate_series(1, 64) d GROUP BY c
)
INSERT INTO docs
SELECT i, i % 8, 'document ' || i,
       (SELECT array_agg(x + (random() - 0.5) * 4 ORDER BY d)
        FROM unnest(center) WITH ORDINALITY AS u(x, d) WHERE i > 0)::vecx
FROM generate_series(1, 5000) i JOIN centers ON centers.c = i % 8;
SELECT count(*) AS rows, count(DISTINCT category) AS categories,
       pg_size_pretty(pg_total_relation_size('docs')) AS table_size FROM docs;

\echo '--- 5 nearest neighbours of document 42 (Euclidean <->)'
SELECT d.id, d.category, round((d.embedding <-> q.embedding)::numeric, 3) AS distance
FROM docs d, (SELECT embedding FROM docs WHERE id = 42) q
ORDER BY d.embedding <-> q.embedding LIMIT 5;

\echo '--- the same by cosine distance (<=>) and negative inner product (<#>)'
SELECT d.id, round((d.embedding <=> q.embedding)::numeric, 5) AS cosine,
       round((d.embedding <#> q.embedding)::numeric, 1) AS neg_inner_product
FROM docs d, (SELECT embedding FROM docs WHERE id = 42) q
ORDER BY d.embedding <=> q.embedding LIMIT 5;

\echo '--- filtered: nearest documents of category 3 to document 42 (which is category 2)'
SELECT d.id, d.category, d.title, round((d.embedding <-> q.embedding)::numeric, 3) AS distance
FROM docs d, (SELECT embedding FROM docs WHERE id = 42) q
WHERE d.category = 3
ORDER BY d.embedding <-> q.embedding LIMIT 5;

\echo '--- an HNSW index: the same searches through vecx_hnsw'
CREATE INDEX docs_embedding_idx ON docs USING vecx_hnsw (embedding vecx_l2_ops) WITH (m = 16, ef_construction = 64);
SELECT * FROM vecx_index_stats('docs_embedding_idx');
EXPLAIN (COSTS OFF)
SELECT d.id FROM docs d ORDER BY d.embedding <-> (SELECT embedding FROM docs WHERE id = 42) LIMIT 5;
SELECT d.id, d.category, round((d.embedding <-> q.embedding)::numeric, 3) AS distance
FROM docs d, (SELECT embedding FROM docs WHERE id = 42) q
ORDER BY d.embedding <-> q.embedding LIMIT 5;
\echo '--- filtered through the index: category 3 is 1/8 of the rows, the scan keeps going until 5 match'
SET enable_seqscan = off;
SELECT d.id, d.category, round((d.embedding <-> q.embedding)::numeric, 3) AS distance
FROM docs d, (SELECT embedding FROM docs WHERE id = 42) q
WHERE d.category = 3
ORDER BY d.embedding <-> q.embedding LIMIT 5;
RESET enable_seqscan;

\echo '--- per-category centroids (avg) and how far document 42 is from each'
SELECT category, count(*) AS docs,
       round((avg(embedding) <-> (SELECT embedding FROM docs WHERE id = 42))::numeric, 3) AS distance_to_42
FROM docs GROUP BY category ORDER BY distance_to_42 LIMIT 3;

\echo '--- functions: dims, norm, normalisation, sub-vectors, arithmetic, casts'
SELECT vecx_dims(embedding) AS dims, round(vecx_norm(embedding)::numeric, 3) AS norm,
       round(vecx_norm(l2_normalize(embedding))::numeric, 6) AS unit_norm,
       subvector(embedding, 1, 3) AS first_three
FROM docs WHERE id = 42;
SELECT '[1,2,3]'::vecx + '[10,20,30]' AS added, '[1,2]'::vecx || '[3]' AS concatenated,
       ARRAY[1.5, 2.5]::real[]::vecx AS from_array, '[1,2]'::vecx::real[] AS to_array;
