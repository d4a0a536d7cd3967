#!/usr/bin/env bash
# The main job, end to end: `bash scripts/demo.sh`
#
# Installs what is missing (apt packages, cargo-pgrx 0.18.0), builds vecx in release mode and
# installs it into the local PostgreSQL 15, starts a throwaway cluster under target/clusters/
# as the postgres user, runs scripts/demo.sql (create a table, load 5,000 generated vectors,
# nearest-neighbour and filtered queries), prints the results and stops the cluster.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

install_prerequisites
install_extension release
start_cluster demo 55431
trap 'stop_cluster demo' EXIT
log "running the example session (scripts/demo.sql)"
cluster_psql -d postgres -f "$ROOT/scripts/demo.sql"
log "done: the cluster is stopped; its files are in target/clusters/demo"
