#!/usr/bin/env bash
# SDK benchmarks (make bench-sdk; not tests), all in one run against the
# release binary: the project's own load generator (32 HTTPS clients,
# batches of 100 with client ids, server/benches/sustained.rs) as the
# baseline, then one client of each SDK (Rust, TypeScript, Python blocking
# and asyncio, Go) recording with background batching into one ledger of a
# fresh server; the latency the Rust and Express integrations add per
# request (with and without them); and each SDK's verification throughput
# (inclusion proofs per second) on one fixture, against the Rust SDK's.
# BENCH_SECS (20) and BENCH_REQUESTS (5000) change the lengths.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
source "$ROOT/scripts/services.sh"
export BENCH_SECS="${BENCH_SECS:-20}"
cargo build --release -p server --bin auditstore
cargo build --release -p auditstore-client --examples
if [ ! -d sdk/typescript/node_modules ] || [ sdk/typescript/package-lock.json -nt sdk/typescript/node_modules ]; then
  (cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error)
fi
ensure_python_sdk
ensure_go
(cd sdk/go && go build -o "$SERVICES_DIR/go-throughput" ./bench/throughput && go build -o "$SERVICES_DIR/go-verify" ./bench/verify)
python_sdk() { PYTHONPATH="$ROOT/sdk/python/src" "$AUDITSTORE_PYTHON_SDK" "$@"; }
bin="$CARGO_TARGET_DIR/release/auditstore"

say "baseline: the load generator, SQLite, with client ids, $BENCH_SECS s"
BENCH_RUNS=sqlite-ids cargo bench -p server --bench sustained

# A fresh server with a ledger and a write key; sets URL, CA, LEDGER, KEY.
fresh_server() {
  local port data
  port="$(free_port)"
  data="$(mktemp -d "$SERVICES_DIR/bench-sdk-XXXX")"
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --site-root "$ROOT/target/site" --log-format json \
    >"$data.log" 2>&1 &
  SERVER_PID=$!
  CLEANUPS+=("kill $SERVER_PID 2>/dev/null")
  URL="https://localhost:$port"
  CA="$data/tls/cert.pem"
  wait_ready "$SERVER_PID" "$data.log" "$URL" --cacert "$CA" || return 1
  local json='import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'
  ADMIN="$("$bin" admin bootstrap --data-dir "$data" --account bench --log-format json | python3 -c "$json" admin_key)"
  api() { curl -sf --cacert "$CA" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$URL/v1$1" -d "$2"; }
  LEDGER="$(api /ledgers '{"name": "sdk"}' | python3 -c "$json" id)"
  KEY="$(api /keys "{\"name\": \"w\", \"permission\": \"write\", \"ledgers\": [\"$LEDGER\"]}" | python3 -c "$json" secret)"
  READ_KEY="$(api /keys "{\"name\": \"r\", \"permission\": \"read\", \"ledgers\": [\"$LEDGER\"]}" | python3 -c "$json" secret)"
}

run_against_fresh_server() {
  fresh_server
  AUDITSTORE_URL="$URL" AUDITSTORE_CA="$CA" NODE_EXTRA_CA_CERTS="$CA" AUDITSTORE_LEDGER="$LEDGER" AUDITSTORE_KEY="$KEY" "$@"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
}

say "the Rust client, background batching, one ledger, $BENCH_SECS s"
run_against_fresh_server "$CARGO_TARGET_DIR/release/examples/throughput"
say "the TypeScript client, background batching, one ledger, $BENCH_SECS s"
run_against_fresh_server node sdk/typescript/bench/throughput.js
say "the Python client (blocking, a sender thread), background batching, one ledger, $BENCH_SECS s"
run_against_fresh_server python_sdk sdk/python/bench/throughput.py
say "the Python client (asyncio, a sender task), background batching, one ledger, $BENCH_SECS s"
BENCH_CLIENT=async run_against_fresh_server python_sdk sdk/python/bench/throughput.py
say "the Go client, background batching, one ledger, $BENCH_SECS s"
run_against_fresh_server "$SERVICES_DIR/go-throughput"
say "the tower layer: latency with and without it"
run_against_fresh_server "$CARGO_TARGET_DIR/release/examples/layer_overhead"
say "the Express middleware: latency with and without it"
run_against_fresh_server node sdk/typescript/bench/middleware.js

say "verification: inclusion proofs per second, one fixture of 1,000 events, each SDK"
fresh_server
fixture="$SERVICES_DIR/verify-fixture.json"
verifier="$(curl -sf --cacert "$CA" "$URL/v1/checkpoint-key")"
AUDITSTORE_URL="$URL" AUDITSTORE_CA="$CA" AUDITSTORE_LEDGER="$LEDGER" AUDITSTORE_KEY="$KEY" AUDITSTORE_READ_KEY="$READ_KEY" \
  AUDITSTORE_VERIFIER_KEY="$verifier" AUDITSTORE_VERIFY_FIXTURE="$fixture" BENCH_SECS=5 \
  "$CARGO_TARGET_DIR/release/examples/verify_proofs"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
export AUDITSTORE_VERIFY_FIXTURE="$fixture"
BENCH_SECS=5 node sdk/typescript/bench/verify.js
BENCH_SECS=5 python_sdk sdk/python/bench/verify.py
BENCH_SECS=5 "$SERVICES_DIR/go-verify"
