# Throw-away services for the test suite; sourced by scripts/test.sh.
# Each start_* function exports the address tests read and registers its
# cleanup, which runs on exit even when a stage fails.

SERVICES_DIR="$(mktemp -d /tmp/auditstore-test.XXXXXX)"
CLEANUPS=()
cleanup_services() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[$i]}" || true; done
  rm -rf "$SERVICES_DIR"
}
trap cleanup_services EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (up to 20 s) until the server PID answers URL/readyz; fails with its
# LOG when it exits first. The rest are curl's options (a --cacert).
wait_ready() {
  local pid="$1" log="$2" url="$3" i
  shift 3
  for i in $(seq 1 100); do
    curl -sf "$@" "$url/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.2
  done
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian package(s) $*: install them (apt-get install $*) or run as root" >&2
    return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL: a fresh cluster in a temp dir on a random loopback port.
start_postgres() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$bin" ]; then
    say "installing PostgreSQL (Debian package)"
    apt_install postgresql
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  local dir="$SERVICES_DIR/pg" port
  port="$(free_port)"
  mkdir -p "$dir"
  # initdb refuses to run as root: run the cluster as the postgres user.
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$SERVICES_DIR" "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U auditstore --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  # Durability stays on (fsync): the tests check what a 2xx promises.
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300" start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  CLEANUPS+=("${as[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1")
  export AUDITSTORE_TEST_POSTGRES_URL="postgres://auditstore@127.0.0.1:$port/postgres"
  # pg_dump of the same version, for tests that inspect a dump.
  export AUDITSTORE_TEST_PG_BIN="$bin"
  say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

# The API contract tools, pinned, in a venv of our own: an independent
# OpenAPI validator, a standard client generator and the API fuzzer.
ensure_api_tools() {
  local venv="$AUDITSTORE_TOOLS/api-venv"
  local want="openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 schemathesis==4.32.5"
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    say "installing $want into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want
    echo "$want" >"$venv/.installed"
  fi
  export AUDITSTORE_API_TOOLS="$venv/bin"
}

# A KMS-compatible endpoint: moto's server from PyPI, in a venv of our own.
start_moto() {
  local venv="$AUDITSTORE_TOOLS/moto-venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    say "installing moto[server] into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
  fi
  local port
  port="$(free_port)"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$SERVICES_DIR/moto.log" 2>&1 &
  local pid=$!
  CLEANUPS+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
  export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$port"
  # moto serves S3 on the same port (the archive store's tests).
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  local i
  for i in $(seq 1 100); do
    # A real KMS call, not just an open port: ListKeys must answer.
    if curl -sf -X POST "$AWS_ENDPOINT_URL_KMS/" -H 'X-Amz-Target: TrentService.ListKeys' \
      -H 'Content-Type: application/x-amz-json-1.1' -d '{}' >/dev/null 2>&1; then
      say "moto KMS endpoint on $AWS_ENDPOINT_URL_KMS"
      return 0
    fi
    sleep 0.2
  done
  cat "$SERVICES_DIR/moto.log" >&2
  return 1
}

# Debian's chromium for the browser tests; Playwright never downloads one.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium (Debian package)"
    apt_install chromium
  fi
  export CHROMIUM_PATH=/usr/bin/chromium
}

# The Python SDK's venvs with its test requirements, pinned: one for the
# machine's python3 (exported as AUDITSTORE_PYTHON_SDK), and one for Python
# 3.9, the oldest the SDK supports, when pyenv has it (AUDITSTORE_PYTHON39_SDK,
# else empty). The tests import the SDK from the working tree (conftest.py).
ensure_python_sdk() {
  python_sdk_venv "$AUDITSTORE_TOOLS/python-sdk-venv" python3
  export AUDITSTORE_PYTHON_SDK="$AUDITSTORE_TOOLS/python-sdk-venv/bin/python"
  local oldest=""
  if command -v pyenv >/dev/null 2>&1; then
    oldest="$(ls -d "$(pyenv root)"/versions/3.9.*/bin/python3 2>/dev/null | sort -V | tail -n 1)"
  fi
  export AUDITSTORE_PYTHON39_SDK=""
  if [ -n "$oldest" ]; then
    python_sdk_venv "$AUDITSTORE_TOOLS/python39-sdk-venv" "$oldest"
    AUDITSTORE_PYTHON39_SDK="$AUDITSTORE_TOOLS/python39-sdk-venv/bin/python"
  fi
}

python_sdk_venv() {
  local venv="$1" python="$2" want
  want="$(cat "$ROOT/sdk/python/requirements-test.txt" | sha256sum | cut -c1-16) $("$python" --version)"
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    say "installing the Python SDK's test requirements into $venv ($("$python" --version))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/sdk/python/requirements-test.txt"
    echo "$want" >"$venv/.installed"
  fi
}

# Go for the Go SDK: Debian's golang-go (1.19 on bookworm) when none is
# installed. The SDK has no dependencies, so the module proxy is off.
ensure_go() {
  if ! command -v go >/dev/null 2>&1; then
    say "installing golang-go (Debian package)"
    apt_install golang-go
  fi
  export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
  export GOCACHE="$AUDITSTORE_CACHE/go-build" GOPATH="$AUDITSTORE_CACHE/go"
}
