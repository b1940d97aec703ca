#!/usr/bin/env bash
# Builds the npm package of the browser/Node pool user:
#   wasm/pkg/package/          the package (bundler build at the root,
#                              web/ and node/ builds beside it)
#   wasm/pkg/rserpool-wasm-<version>.tgz   `npm pack` of it
# Offline: wasm-pack --mode no-install uses the pinned wasm-bindgen on PATH
# (scripts/setup.d/50-wasm.sh); wasm-opt is the npm binaryen's, never
# Debian's (it breaks the module at run time).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="$HOME/.cargo/bin:$here/js/node_modules/.bin:$PATH"
out="$here/pkg"
rm -rf "$out"
mkdir -p "$out/package"

# wasm-opt feature flags: `strip = true` drops the target-features section.
# --converge repeats -Oz until the module stops shrinking (~0.5 KB gzip).
# --low-memory-unused lets wasm-opt fold constant offsets into loads and
# stores (~0.3 KB gzip): it may assume addresses below 1 KiB are never used,
# which holds for rustc's wasm32 layout (stack first: the stack pointer
# starts at 1 MiB and grows down, data and heap lie above 1 MiB), so only a
# stack ~1 MiB deep — already an overflow — would reach them.
opt_flags=(-Oz --converge --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue)

# The package's wasm is compiled by the nightly toolchain (the one the fuzz
# targets use; scripts/setup.d/50-wasm.sh adds its rust-src) with the
# standard library rebuilt for size: panics abort at once (a trap) instead
# of formatting a message first, and core/alloc pick their smaller code
# paths (`optimize_for_size`). On wasm32-unknown-unknown std's stderr is a
# sink, so a panic's message was never seen by anyone: a panic is the same
# `unreachable` trap either way, without the formatting machinery and the
# panic locations in the download (-6.7 KB gzip, BENCHMARKS.md "Browser
# package size"). Tests (`cargo test`, `wasm-pack test`) stay on stable.
# RUSTFLAGS reach only the wasm32 crates (cargo is given --target).
build() { # target dir
    RUSTUP_TOOLCHAIN=nightly RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
        wasm-pack --quiet build "$here" --mode no-install --no-pack --target "$1" \
        --profile wasm-release --out-dir "$2" --out-name rserpool_wasm -- --locked \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
    wasm-opt "${opt_flags[@]}" "$2/rserpool_wasm_bg.wasm" -o "$2/rserpool_wasm_bg.wasm"
    rm -f "$2/.gitignore" "$2/package.json" "$2/README.md"
}
build bundler "$out/package"
build web "$out/package/web"
# The web build is what a page loads as it is (no bundler of its own in
# front): its JS glue minified by esbuild, exports unchanged (−2 KB gzip;
# the types and their docs stay in rserpool_wasm.d.ts).
esbuild "$out/package/web/rserpool_wasm.js" --minify --format=esm --log-level=warning \
    --outfile="$out/package/web/rserpool_wasm.js" --allow-overwrite
build nodejs "$out/package/node"
# The nodejs build is CommonJS; the package root is ESM.
echo '{ "type": "commonjs" }' >"$out/package/node/package.json"

version="$(awk -F'"' '/^version = / { print $2; exit }' "$here/../Cargo.toml")"
sed "s/@VERSION@/$version/" "$here/npm/package.json" >"$out/package/package.json"
cp "$here/npm/README.md" "$out/package/README.md"
(cd "$out" && npm pack ./package --silent >/dev/null)
ls "$out"/*.tgz
