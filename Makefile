# The two commands a newcomer needs. Both install what is missing first.
SHELL := bash
.PHONY: run test bench bench-sdk flood site setup

# Build the dashboard and run AuditStore with its embedded defaults
# (everything in ./data, https://localhost:8443).
run: site
	. scripts/env.sh && cargo run --release -p server --bin auditstore -- serve

# Everything CI runs: fmt, clippy, unit/integration tests on SQLite and
# PostgreSQL, wasm32 builds, browser tests.
test:
	bash scripts/test.sh

site: setup
	bash scripts/build-site.sh

setup:
	bash scripts/setup-build.sh

# Benchmarks: ingest load generators (bursts in-process; sustained against the
# release binary, SQLite and PostgreSQL) and audit-core.
bench:
	bash scripts/bench.sh

# SDK benchmarks: the Rust and TypeScript clients' sustained throughput
# beside the load generator, and what their middleware adds per request.
bench-sdk:
	bash scripts/bench-sdk.sh

# Floods (not tests): sign-ins and large appends against the release binary,
# with the server's peak memory.
flood:
	. scripts/env.sh && cargo build --release -p server --bin auditstore
	. scripts/env.sh && python3 scripts/flood.py sign-in --workers 200 --secs 20
	. scripts/env.sh && python3 scripts/flood.py append --workers 128 --secs 20
