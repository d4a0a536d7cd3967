#!/usr/bin/env bash
# The whole test suite: `bash scripts/test.sh`
#
#   1. installs what is missing (apt packages, cargo-pgrx 0.18.0);
#   2. cargo test -p vecx-core       (kernels, parser fuzzer, formats: no PostgreSQL needed);
#   3. cargo pgrx test pg15          (#[pg_test]s inside a throwaway PostgreSQL);
#   4. pg_regress on tests/regress   (SQL files with expected output, on a throwaway cluster);
#   5. a benchmark-harness smoke run (exact engine must reach recall 1 on generated data).
#
# Ends with one line "vecx tests: N passed, M failed" and exits non-zero on any failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PASSED=0
FAILED=0
LOG_DIR="$ROOT/target/test-logs"
mkdir -p "$LOG_DIR"

# Adds the counts of every "test result:" line in a cargo test log.
count_cargo() {
    local p f
    read -r p f < <(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
                         END { print p + 0, f + 0 }' "$1")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
}

step() { # step NAME COMMAND...: runs COMMAND, tees its log, counts failures of the step itself
    local name=$1
    shift
    log "$name"
    if "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then
        return 0
    fi
    echo "!! step '$name' failed (log: $LOG_DIR/$name.log)"
    FAILED=$((FAILED + 1))
    return 1
}

install_prerequisites

step core cargo test -p vecx-core || true
count_cargo "$LOG_DIR/core.log"

PGRX_DATA="$(clusters_dir)/pgrx-test-data"
mkdir -p "$PGRX_DATA"
chown postgres: "$PGRX_DATA"
step pg_test cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_DATA" || true
count_cargo "$LOG_DIR/pg_test.log"

regress() {
    install_extension debug
    start_cluster regress 55433
    trap 'stop_cluster regress' RETURN
    local out="$CLUSTERS_DIR/regress-out"
    rm -rf "$out"
    mkdir -p "$out"
    chown postgres: "$out"
    as_postgres "$PG_REGRESS" --host="$SOCKET_DIR" --port="$PGPORT" --user=postgres \
        --inputdir="$ROOT/tests/regress" --outputdir="$out" \
        --schedule="$ROOT/tests/regress/schedule" --dbname=vecx_regression
}
if step regress regress; then
    PASSED=$((PASSED + $(grep -cE '^(test | *[0-9]+ *-? )?[a-z_0-9]+ +\.\.\. ok|^ok [0-9]+ ' "$LOG_DIR/regress.log")))
else
    diffs="$(clusters_dir)/regress-out/regression.diffs"
    [ -f "$diffs" ] && head -200 "$diffs"
fi

# The benchmark harness keeps working: a small synthetic run on its own throwaway cluster, with
# the exact engine checked for recall 1, no short and no out-of-order results (and pgvector or
# vecx index engines reported as skipped where they are not installed).
if step bench_smoke cargo run -q -p vecx-bench -- --skip-install --dataset synthetic:3000:32 \
    --queries 50 --engines exact,pgvector-hnsw,vecx-hnsw --clients 1,2 --params 40 \
    --port 55441 --out "$ROOT/target/bench-smoke" --check-exact; then
    PASSED=$((PASSED + 1))
fi

echo
echo "vecx tests: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
