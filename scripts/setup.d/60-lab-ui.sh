#!/usr/bin/env bash
# The lab page (lab-ui/): its npm packages from package-lock.json and its
# build into lab-ui/dist, which `rserpool lab up` serves. It imports the
# project's own npm package, so the wasm package is built first (the page
# depends on wasm/pkg/package through a file: dependency).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "${1:-install}" in
apt-packages)
    # Chromium for the page's browser tests comes with 50-wasm.sh; certutil
    # (libnss3-tools) with the lab's `lab trust`.
    echo "chromium libnss3-tools"
    ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    [ -f "$root/wasm/pkg/package/package.json" ] || bash "$root/wasm/build.sh"
    cd "$root/lab-ui"
    # Never a browser download: the tests drive Debian's /usr/bin/chromium.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    npm run --silent build
    ;;
esac
