#!/usr/bin/env bash
# The browser/Node package (wasm/): wasm-bindgen CLI pinned to the crate's
# exact version, wasm-pack, Chromium + chromedriver for browser tests, and
# the npm packages of the build and test projects (from their lockfiles).
# Never Debian's binaryen: its wasm-opt breaks the module (docs/build-notes.md);
# wasm-opt comes from the npm package `binaryen` in wasm/js.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "${1:-install}" in
apt-packages)
    echo "chromium chromium-driver openssl"
    # Node >= 20 with npm may come from elsewhere (nodesource's nodejs
    # bundles npm and conflicts with Debian's npm): only ask apt if absent.
    command -v node >/dev/null || echo "nodejs"
    command -v npm >/dev/null || echo "npm"
    ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    # wasm/build.sh compiles the package with nightly and a standard library
    # rebuilt for size (-Zbuild-std): that needs nightly's library sources.
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    rustup +nightly component list --installed | grep -q '^rust-src' || rustup +nightly component add rust-src
    # The version wasm-pack requires: the wasm-bindgen crate in Cargo.lock.
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")"
    have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
    if [ "$have" != "$want" ]; then
        # --locked first; the crates.io mirror may lack a locked patch
        # release of a dependency, then let cargo pick the newest it has.
        cargo install wasm-bindgen-cli --version "$want" --locked \
            || cargo install wasm-bindgen-cli --version "$want"
    fi
    command -v wasm-pack >/dev/null || cargo install wasm-pack --version 0.15.1 --locked \
        || cargo install wasm-pack --version 0.15.1
    for d in "$root/wasm/js"; do
        if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
            (cd "$d" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
        fi
    done
    ;;
esac
