#!/usr/bin/env bash
# Builds the dashboard's browser side into target/site (what the server
# serves under /pkg): the hydrate bundle compiled to wasm32 with the
# size-optimised profile, bound by the pinned wasm-bindgen CLI, shrunk by
# wasm-opt, plus the stylesheet and the favicon.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

profile="${WASM_PROFILE:-wasm-release}"
site="$ROOT/target/site"
pkg="$site/pkg"

say "cargo build -p frontend --target wasm32-unknown-unknown --profile $profile"
cargo build -p frontend --target wasm32-unknown-unknown --profile "$profile"
profile_dir="$profile"; [ "$profile" = dev ] && profile_dir=debug
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile_dir/frontend.wasm"

rm -rf "$pkg.tmp" && mkdir -p "$pkg.tmp"
wasm-bindgen --target web --no-typescript --out-dir "$pkg.tmp" --out-name auditstore "$wasm"
# Leptos is compiled with LEPTOS_OUTPUT_NAME set (.cargo/config.toml), so it
# asks for auditstore.wasm rather than wasm-bindgen's auditstore_bg.wasm.
mv "$pkg.tmp/auditstore_bg.wasm" "$pkg.tmp/auditstore.wasm"
if [ "$profile" != dev ]; then
  # The features rustc enables by default for wasm32-unknown-unknown.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$pkg.tmp/auditstore.opt.wasm" "$pkg.tmp/auditstore.wasm"
  mv "$pkg.tmp/auditstore.opt.wasm" "$pkg.tmp/auditstore.wasm"
fi
cp style/main.css "$pkg.tmp/auditstore.css"
rm -rf "$pkg" && mv "$pkg.tmp" "$pkg"
cp public/* "$site/"
say "site built: $(du -h "$pkg/auditstore.wasm" | cut -f1) wasm, $(gzip -c "$pkg/auditstore.wasm" | wc -c) bytes gzipped"
