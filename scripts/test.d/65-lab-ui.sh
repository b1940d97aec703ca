#!/usr/bin/env bash
# The lab page: lint (biome), typecheck (tsc --strict), build, then the
# browser tests against live labs of their own in Debian's Chromium
# (lab-ui/test: a non-default topology and the default one; topology list,
# pool user session, PE kill from the page, failover notice and sequence
# chart; a scenario run off then on, compared; the page as a scenario's
# victim; a saved run replayed from disk without a lab). Screenshots land
# in target/lab-ui-screenshots/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
cargo build --locked -q -p rserpool-cli -p rserpool-gateway
[ -f wasm/pkg/package/package.json ] || bash wasm/build.sh
cd lab-ui
[ -d node_modules ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
npm run --silent lint
npm run --silent typecheck
npm run --silent build
RSERPOOL_CLI="$root/target/debug/rserpool" node --test --test-concurrency=1 test/
