#!/usr/bin/env bash
# The browser/Node package: build it (web, bundler, nodejs + npm pack),
# report its size, run the Node tests against the packed tarball (fresh
# consumer project, tsc --strict) and the wasm-bindgen tests in headless
# Chromium against a loopback stand-in gateway.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"

bash wasm/build.sh
bash wasm/size.sh

(cd wasm/js && node --test test/)

envfile="$(mktemp)"
node wasm/js/fake-gateway.mjs "$envfile" &
gw=$!
trap 'kill "$gw" 2>/dev/null || true; rm -f "$envfile"' EXIT
for _ in $(seq 50); do [ -s "$envfile" ] && break; sleep 0.1; done
set -a; . "$envfile"; set +a
WASM_BINDGEN_TEST_TIMEOUT=60 wasm-pack test --headless --chrome --mode no-install wasm --locked --test browser
