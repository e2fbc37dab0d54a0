#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: set-up of every tool and
# service it needs, then formatting, lints, unit and integration tests
# (SQLite and PostgreSQL), the wasm32 builds and the browser tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

STAGES=()
stage() {
  local name="$1"; shift
  say "[$name] $*"
  local start=$SECONDS
  "$@"
  STAGES+=("$(printf '%-10s %5ss' "$name" $((SECONDS - start)))")
}
summary() {
  local status=$?
  printf '\nTiming per stage:\n' >&2
  local line
  for line in "${STAGES[@]}"; do printf '  %s\n' "$line" >&2; done
  printf '  %-10s %5ss\n' total "$SECONDS" >&2
  cleanup_services
  exit $status
}
source "$ROOT/scripts/services.sh"
trap summary EXIT

setup() {
  bash "$ROOT/scripts/setup-build.sh"
  ensure_chromium
  if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules ]; then
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
  start_postgres
  start_moto
  ensure_api_tools
}

lint() {
  # Per target platform, so the ssr and hydrate sides are each linted as they
  # ship (a workspace-wide run would merge their features).
  cargo clippy -p audit-core -p store -p app -p server -p auditstore-client --all-targets -- -D warnings
  cargo clippy -p audit-core -p app -p frontend --target wasm32-unknown-unknown -- -D warnings
}

unit_and_integration() {
  cargo test -p audit-core -p store -p server
  # The dashboard's own tests (in-browser verification, run natively).
  cargo test -p app --features ssr --lib
}

# The SDKs (docs/SDK.md) against live servers: the binary the tests above
# built. The Rust SDK's tests start their own; the others share one started
# here on a fresh data directory, each test making its own ledger and keys.
sdks() {
  AUDITSTORE_BIN="$CARGO_TARGET_DIR/debug/auditstore" cargo test -p auditstore-client
  if [ ! -d sdk/typescript/node_modules ] || [ sdk/typescript/package-lock.json -nt sdk/typescript/node_modules ]; then
    (cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error)
  fi
  ensure_python_sdk
  ensure_go
  start_sdk_server
  local status=0
  say "the TypeScript SDK (node --test)"
  # NODE_EXTRA_CA_CERTS trusts the server's self-signed certificate.
  (cd sdk/typescript && NODE_EXTRA_CA_CERTS="$AUDITSTORE_TEST_CA" node --test test/) || status=1
  say "the Python SDK (ruff, mypy, pytest)"
  (cd sdk/python && "${AUDITSTORE_PYTHON_SDK%/*}/ruff" check src tests bench && "${AUDITSTORE_PYTHON_SDK%/*}/ruff" format --check src tests bench \
    && "${AUDITSTORE_PYTHON_SDK%/*}/mypy" && "$AUDITSTORE_PYTHON_SDK" -m pytest -q -p no:cacheprovider tests) || status=1
  if [ -n "$AUDITSTORE_PYTHON39_SDK" ]; then
    say "the Python SDK on Python 3.9, the oldest it supports (pytest)"
    (cd sdk/python && "$AUDITSTORE_PYTHON39_SDK" -m pytest -q -p no:cacheprovider tests) || status=1
  else
    say "no Python 3.9 here (pyenv): the Python SDK ran on $(python3 --version) only"
  fi
  say "the Go SDK (gofmt, go vet, go test; $(go version | cut -d' ' -f3))"
  (cd sdk/go && { [ -z "$(gofmt -l .)" ] || { echo "not gofmt-formatted: $(gofmt -l .)" >&2; false; }; } \
    && go vet ./... && go test -count=1 ./...) || status=1
  kill -TERM "$SDK_SERVER_PID"
  wait "$SDK_SERVER_PID" || true
  [ $status = 0 ] || { echo "server log:" >&2; tail -n 30 "$SERVICES_DIR/sdk-server.log" >&2; }
  return $status
}

# A server for the SDK tests; exports AUDITSTORE_TEST_URL, _ADMIN_KEY, _CA.
start_sdk_server() {
  local port data log bin="$CARGO_TARGET_DIR/debug/auditstore"
  port="$(free_port)"
  data="$SERVICES_DIR/sdk-data"
  log="$SERVICES_DIR/sdk-server.log"
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --site-root "$ROOT/target/site" --log-format json \
    >"$log" 2>&1 &
  local pid=$!
  SDK_SERVER_PID=$pid
  CLEANUPS+=("kill $pid 2>/dev/null")
  wait_ready "$pid" "$log" "https://localhost:$port" --cacert "$data/tls/cert.pem" || return 1
  export AUDITSTORE_TEST_URL="https://localhost:$port" AUDITSTORE_TEST_CA="$data/tls/cert.pem"
  AUDITSTORE_TEST_ADMIN_KEY="$("$bin" admin bootstrap --data-dir "$data" --account sdk --log-format json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["admin_key"])')"
  export AUDITSTORE_TEST_ADMIN_KEY
}

wasm() {
  cargo build -p audit-core --target wasm32-unknown-unknown
  bash "$ROOT/scripts/build-site.sh"
}

end2end() {
  local port data log
  port="$(free_port)"
  data="$SERVICES_DIR/e2e-data"
  log="$SERVICES_DIR/e2e-server.log"
  # The tamper monitor passes every second, each a full sweep, so the
  # banner journey sees its finding at once; webhooks may go to the
  # journey's receiver on 127.0.0.1, retried every second.
  "$CARGO_TARGET_DIR/debug/auditstore" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    --site-root "$ROOT/target/site" --log-format json --monitor-interval 1 --monitor-full-sweep-hours 0.0001 \
    --webhook-allow-private --webhook-retry-schedule 1,1,1 >"$log" 2>&1 &
  local pid=$!
  CLEANUPS+=("kill $pid 2>/dev/null")
  wait_ready "$pid" "$log" "https://127.0.0.1:$port" -k || return 1
  # The first-run setup link the server printed (a fresh database has no
  # dashboard user): the first journey creates the owner with it.
  local setup_path
  setup_path="$(grep -o '/setup?token=[0-9a-f]*' "$log" | tail -n 1)"
  rm -f "$SERVICES_DIR"/e2e-state*.json
  local status=0
  (cd end2end && AUDITSTORE_URL="https://localhost:$port" AUDITSTORE_SETUP_PATH="$setup_path" \
    AUDITSTORE_BIN="$CARGO_TARGET_DIR/debug/auditstore" AUDITSTORE_E2E_STATE="$SERVICES_DIR/e2e-state.json" \
    AUDITSTORE_E2E_DB="$data/auditstore.db" npx playwright test) || status=$?
  # The server must stop cleanly on SIGTERM (graceful shutdown).
  kill -TERM "$pid"
  wait "$pid" || { echo "server exited with $? after SIGTERM" >&2; cat "$log" >&2; return 1; }
  [ $status = 0 ] || { echo "server log:" >&2; tail -n 50 "$log" >&2; }
  # A panic in the server (say, while rendering a page) fails the run even
  # when the browser happened not to notice.
  if grep -q 'panicked' "$log"; then
    echo "the server panicked during the browser tests:" >&2
    grep -A 5 'panicked' "$log" >&2
    return 1
  fi
  return $status
}

# API fuzzing: schemathesis against the served OpenAPI document, once per
# key permission, with a fixed seed and a time budget; any finding fails.
fuzz() {
  local port data log bin="$CARGO_TARGET_DIR/debug/auditstore"
  port="$(free_port)"
  data="$SERVICES_DIR/fuzz-data"
  log="$SERVICES_DIR/fuzz-server.log"
  # Generous limits: the fuzzer is one client sending thousands of requests.
  "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" --site-root "$ROOT/target/site" --log-format json \
    --rate-limit-per-key 1000000 --rate-limit-per-ledger 1000000 --auth-failures-per-minute 1000000 >"$log" 2>&1 &
  local pid=$!
  CLEANUPS+=("kill $pid 2>/dev/null")
  local i base="https://localhost:$port" cert="$data/tls/cert.pem"
  wait_ready "$pid" "$log" "$base" --cacert "$cert" || return 1
  local json='import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'
  local admin ledger write read
  admin="$("$bin" admin bootstrap --data-dir "$data" --account fuzz --log-format json | python3 -c "$json" admin_key)"
  api() { curl -sf --cacert "$cert" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$base/v1$2" -d "$3"; }
  ledger="$(api "$admin" /ledgers '{"name": "fuzzed"}' | python3 -c "$json" id)"
  write="$(api "$admin" /keys "{\"name\": \"w\", \"permission\": \"write\", \"ledgers\": [\"$ledger\"]}" | python3 -c "$json" secret)"
  read="$(api "$admin" /keys '{"name": "r", "permission": "read"}' | python3 -c "$json" secret)"
  for i in 1 2 3; do
    api "$write" "/ledgers/$ledger/events" "{\"id\": \"evt_$i\", \"actor\": {\"type\": \"user\", \"id\": \"u_$i\"}, \"action\": \"a.b\", \"resource\": {\"type\": \"r\", \"id\": \"r_$i\"}, \"occurred_at\": \"2026-11-26T10:00:00Z\"}" >/dev/null
  done
  [ -n "$admin" ] && [ -n "$ledger" ] && [ -n "$write" ] && [ -n "$read" ] || { echo "could not create the fuzzing keys" >&2; cat "$log" >&2; return 1; }
  local status=0 name key
  # Admin last: its run revokes and rotates keys, the others' included.
  for name in read write admin; do
    key="${!name}"
    say "schemathesis with the $name key (seed 20261201, at most ${AUDITSTORE_FUZZ_SECS:-60} s)"
    # From the services directory: schemathesis keeps its crash cache in
    # the working directory, which must not be the repository.
    (cd "$SERVICES_DIR" && "$AUDITSTORE_API_TOOLS/st" --no-color run "$base/v1/openapi.json" --url "$base" --tls-verify "$cert" \
      -H "Authorization: Bearer $key" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
      --seed 20261201 --max-time "${AUDITSTORE_FUZZ_SECS:-60}" --workers 1) || status=1
  done
  kill -TERM "$pid"
  wait "$pid" || true
  if grep -q 'panicked' "$log"; then
    echo "the server panicked while fuzzed:" >&2
    grep -A 5 'panicked' "$log" >&2
    status=1
  fi
  return $status
}

stage setup setup
stage fmt cargo fmt --all --check
stage clippy lint
stage test unit_and_integration
stage sdk sdks
stage wasm wasm
stage end2end end2end
stage fuzz fuzz
