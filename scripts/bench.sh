#!/usr/bin/env bash
# Benchmarks (not tests): the ingest load generator on SQLite and a
# throw-away PostgreSQL, and the audit-core criterion benches. Figures are
# meant as ratios within one run.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
source "$ROOT/scripts/services.sh"
start_postgres
cargo bench -p server --bench ingest
# Sustained ingest as users send it, against the release binary.
cargo build --release -p server --bin auditstore
cargo bench -p server --bench sustained
# Retention archival of 1M expired events, alone and under ingest on the same ledger.
cargo bench -p server --bench archival
# The tamper monitor: a full sweep of 1M events, and ingest beside it.
cargo bench -p server --bench monitor
# Exports of a 1M-event ledger in each format, and auditstore verify of each file.
cargo bench -p server --bench export
if [ "${BENCH_CORE:-1}" = 1 ]; then
  cargo bench -p audit-core --bench core -- --warm-up-time 1 --measurement-time 3
fi
