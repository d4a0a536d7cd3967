#!/usr/bin/env bash
# Does vecx compile against each PostgreSQL major version pgrx 0.18 supports (13-18)?
#
#   scripts/check-versions.sh [--pg-test] [13 14 ...]
#
# For every version asked for (default: all six) it runs
#   cargo check --no-default-features --features pgNN            (and, with --pg-test,
#   cargo check --no-default-features --features "pgNN pg_test")
# against the pg_config named by $PGNN_CONFIG, and ends with a PASS/FAIL/SKIPPED line per
# version. It never downloads or builds PostgreSQL: a version whose pg_config is missing (or
# reports another major version) is SKIPPED. A PostgreSQL built from source counts once it is
# installed (`make install`): point PGNN_CONFIG at <prefix>/bin/pg_config.
#
# Environment (all optional):
#   PG13_CONFIG .. PG18_CONFIG  pg_config per version; defaults /tmp/pgNN/bin/pg_config, and
#                               /usr/bin/pg_config for 15 (the Debian 12 package)
#   PGRX_HOME                   pgrx home holding only these pg_configs (default /tmp/pgrx-multi;
#                               its config.toml is rewritten, so ~/.pgrx is refused)
#   CARGO_TARGET_DIR            default /tmp/vecx-multi-target (keeps ./target untouched)
#   JOBS (default 2), NICE (default 19), LOG_DIR (default $CARGO_TARGET_DIR/check-versions)
#
# Exit status: 0 when nothing FAILED (SKIPPED is not a failure), 1 otherwise.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_VERSIONS=(13 14 15 16 17 18)

PG_TEST=0
VERSIONS=()
for arg in "$@"; do
    case "$arg" in
        --pg-test) PG_TEST=1 ;;
        -h | --help)
            sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        pg1[3-8] | 1[3-8]) VERSIONS+=("${arg#pg}") ;;
        *)
            echo "unknown argument: $arg (expected --pg-test or a major version 13-18)" >&2
            exit 2
            ;;
    esac
done
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=("${ALL_VERSIONS[@]}")

export PGRX_HOME="${PGRX_HOME:-/tmp/pgrx-multi}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/vecx-multi-target}"
JOBS="${JOBS:-2}"
NICE="${NICE:-19}"
LOG_DIR="${LOG_DIR:-$CARGO_TARGET_DIR/check-versions}"

if [ "$(realpath -m "$PGRX_HOME")" = "$(realpath -m "$HOME/.pgrx")" ]; then
    echo "refusing PGRX_HOME=$PGRX_HOME: this script rewrites its config.toml" >&2
    exit 2
fi

pg_config_for() {
    local var="PG$1_CONFIG" default="/tmp/pg$1/bin/pg_config"
    [ "$1" = 15 ] && [ ! -x "$default" ] && default=/usr/bin/pg_config
    echo "${!var:-$default}"
}

# Which versions are present: an executable pg_config reporting the expected major version.
# All six are probed (not only those asked for) so config.toml stays the same between runs.
declare -A STATUS DETAIL CONFIG
INIT_ARGS=()
CONFIG_LINES=()
for v in "${ALL_VERSIONS[@]}"; do
    cfg="$(pg_config_for "$v")"
    CONFIG[$v]="$cfg"
    if [ ! -x "$cfg" ]; then
        STATUS[$v]=SKIPPED
        DETAIL[$v]="no pg_config at $cfg (set PG${v}_CONFIG)"
        continue
    fi
    reported="$("$cfg" --version 2>/dev/null)"
    major="$(sed -E 's/^PostgreSQL ([0-9]+).*/\1/' <<<"$reported")"
    if [ "$major" != "$v" ]; then
        STATUS[$v]=SKIPPED
        DETAIL[$v]="$cfg reports '${reported:-nothing}', not PostgreSQL $v"
        continue
    fi
    INIT_ARGS+=("--pg$v" "$cfg")
    CONFIG_LINES+=("pg$v = \"$cfg\"")
done

# Registers exactly the present versions in $PGRX_HOME/config.toml (no download, no build),
# unless it already says so: rewriting it makes pgrx-pg-sys regenerate every binding.
registered() {
    local f="$PGRX_HOME/config.toml" line
    [ -f "$f" ] || return 1
    [ "$(grep -c '^pg1[0-9] = ' "$f")" = "${#CONFIG_LINES[@]}" ] || return 1
    for line in "${CONFIG_LINES[@]}"; do grep -qxF "$line" "$f" || return 1; done
}
mkdir -p "$LOG_DIR"
if [ ${#INIT_ARGS[@]} -gt 0 ] && ! registered; then
    mkdir -p "$PGRX_HOME"
    if ! cargo pgrx init "${INIT_ARGS[@]}" >"$LOG_DIR/pgrx-init.log" 2>&1; then
        echo "cargo pgrx init failed; see $LOG_DIR/pgrx-init.log" >&2
        tail -n 20 "$LOG_DIR/pgrx-init.log" >&2
        exit 1
    fi
fi

check() { # version, features, log
    (cd "$ROOT" && nice -n "$NICE" cargo check -j "$JOBS" --no-default-features \
        --features "$2" >"$3" 2>&1)
}

FAILED=0
for v in "${VERSIONS[@]}"; do
    [ -z "${STATUS[$v]:-}" ] || { echo "pg$v: SKIPPED: ${DETAIL[$v]}"; continue; }
    feature_sets=("pg$v")
    [ "$PG_TEST" = 1 ] && feature_sets+=("pg$v pg_test")
    STATUS[$v]=PASS
    DETAIL[$v]=""
    for features in "${feature_sets[@]}"; do
        log="$LOG_DIR/${features// /-}.log"
        echo "pg$v: cargo check --features \"$features\" (${CONFIG[$v]}) ..."
        start=$SECONDS
        if check "$v" "$features" "$log"; then
            DETAIL[$v]+="[$features] ok $((SECONDS - start))s  "
        else
            STATUS[$v]=FAIL
            DETAIL[$v]+="[$features] FAILED $((SECONDS - start))s, log $log  "
            grep -E '^error' "$log" | head -n 5 | sed 's/^/    /'
        fi
    done
    [ "${STATUS[$v]}" = FAIL ] && FAILED=1
done

echo
echo "vecx compile check (PGRX_HOME=$PGRX_HOME, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
for v in "${VERSIONS[@]}"; do
    printf '  pg%-3s %-8s %s\n' "$v" "${STATUS[$v]}" "${DETAIL[$v]}"
done
exit $FAILED
