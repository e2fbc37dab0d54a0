# The two commands a newcomer needs. Both install what is missing first.
SHELL := bash
.PHONY: run test bench site setup

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

# Benchmarks: ingest load generator (SQLite, PostgreSQL) and audit-core.
bench:
	bash scripts/bench.sh
