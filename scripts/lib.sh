# Shared helpers for scripts/demo.sh and scripts/test.sh (sourced, not run).
#
# Everything here is idempotent: run it on a fresh Debian 12 machine (as root, with only the
# Rust toolchain installed) or on one that already has it all, and it ends in the same state.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_CONFIG=/usr/bin/pg_config
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGRX_VERSION=0.18.0
PG_REGRESS=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/regress/pg_regress

log() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt packages: the PostgreSQL server and headers, clang for bindgen, sudo for
# `cargo pgrx test --runas`.
install_packages() {
    local missing=()
    for p in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang sudo pkg-config; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing apt packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_cargo_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        log "installing cargo-pgrx $PGRX_VERSION (a few minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "pg$PG_MAJOR = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG" >/dev/null
    fi
}

install_prerequisites() {
    install_packages
    install_cargo_pgrx
}

# Builds the extension and installs it into the system PostgreSQL ($1: "release" or "debug").
install_extension() {
    local profile=${1:-debug}
    log "building and installing vecx ($profile) into PostgreSQL $PG_MAJOR"
    # Unlink the old library first: cargo pgrx install rewrites it in place, and a running
    # server that has it mapped would crash on the truncated file.
    as_root rm -f "$($PG_CONFIG --pkglibdir)/vecx.so"
    if [ "$profile" = release ]; then
        as_root_env cargo pgrx install --pg-config "$PG_CONFIG" --release
    else
        as_root_env cargo pgrx install --pg-config "$PG_CONFIG"
    fi
}

# cargo pgrx install copies into /usr; as root that just works, otherwise it needs --sudo.
as_root_env() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else "$@" --sudo; fi
}

# Directory for throwaway clusters: target/clusters under the project, when the postgres user
# can reach it (every parent directory must be searchable by others); otherwise a directory
# under /tmp, with a note saying why.
clusters_dir() {
    local dir="$ROOT/target/clusters"
    mkdir -p "$dir"
    chown postgres: "$dir" 2>/dev/null || true
    if runuser -u postgres -- test -w "$dir" 2>/dev/null; then
        echo "$dir"
    else
        echo "note: the postgres user cannot reach $dir; using /tmp/vecx-clusters instead" >&2
        mkdir -p /tmp/vecx-clusters
        chown postgres: /tmp/vecx-clusters
        echo /tmp/vecx-clusters
    fi
}

# Runs a command as the postgres user (PostgreSQL refuses to run as root).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# A throwaway cluster under target/clusters: start_cluster NAME PORT [extra postgresql.conf lines...]
# Sets PGDATA_DIR, SOCKET_DIR and PGPORT for the caller.
start_cluster() {
    local name=$1 port=$2
    shift 2
    CLUSTERS_DIR=$(clusters_dir)
    PGDATA_DIR="$CLUSTERS_DIR/$name"
    SOCKET_DIR="$CLUSTERS_DIR/$name.sock"
    PGPORT=$port
    stop_cluster "$name" 2>/dev/null || true
    rm -rf "$PGDATA_DIR" "$SOCKET_DIR"
    mkdir -p "$PGDATA_DIR" "$SOCKET_DIR"
    chown postgres: "$PGDATA_DIR" "$SOCKET_DIR"
    as_postgres "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$SOCKET_DIR'"
        echo "fsync = off"
        echo "shared_buffers = 256MB"
        for line in "$@"; do echo "$line"; done
    } >> "$PGDATA_DIR/postgresql.conf"
    as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w start >/dev/null
}

stop_cluster() {
    local name=$1
    local dir="${CLUSTERS_DIR:-$ROOT/target/clusters}/$name"
    if [ -f "$dir/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    fi
}

# psql against the current throwaway cluster.
cluster_psql() {
    as_postgres "$PG_BIN/psql" -h "$SOCKET_DIR" -p "$PGPORT" -U postgres -X -v ON_ERROR_STOP=1 "$@"
}
