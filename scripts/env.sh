# Shared settings for the scripts; sourced, not run.
# Tools and the cargo target dir live outside the clone, so a fresh clone (CI)
# reuses what an earlier run on the same machine built or installed.
export AUDITSTORE_CACHE="${AUDITSTORE_CACHE:-$HOME/.cache/auditstore}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUDITSTORE_CACHE/target}"
export AUDITSTORE_TOOLS="$AUDITSTORE_CACHE/tools"
export PATH="$AUDITSTORE_TOOLS/bin:$AUDITSTORE_TOOLS/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Pinned: the CLI must match the wasm-bindgen crate version exactly, and
# Debian's binaryen (108) builds a wasm that fails to hydrate.
export WASM_BINDGEN_VERSION="0.2.129"
export BINARYEN_VERSION="132"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
