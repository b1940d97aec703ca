#!/usr/bin/env bash
# Live end-to-end: boots the lab (RSPLIB registrars + PEs + our gateway, in
# the micro-VM here) and runs the packed npm package against it from Node
# (resolve at every registrar, unknown pool, session + PE kill + failover).
# Needs wasm/pkg/*.tgz from 50-wasm.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
cargo build --locked -q -p rserpool-cli
cli="$root/target/debug/rserpool"
tmp="$(mktemp -d)"
"$cli" --json lab up > "$tmp/up.json" 2> "$tmp/up.err" &
lab=$!
cleanup() { "$cli" lab down >/dev/null 2>&1 || kill "$lab" 2>/dev/null || true; wait "$lab" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
# The first run builds the VM image and the static guest binaries.
for _ in $(seq 1200); do
    [ -s "$tmp/up.json" ] && break
    kill -0 "$lab" 2>/dev/null || { cat "$tmp/up.err" >&2; exit 1; }
    sleep 0.5
done
[ -s "$tmp/up.json" ] || { echo "lab did not come up" >&2; cat "$tmp/up.err" >&2; exit 1; }
eval "$(node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
  console.log(`export RSERPOOL_LIVE_GATEWAYS=${s.gateway_urls.join(",")}`);
  console.log(`export NODE_EXTRA_CA_CERTS=${s.gateway_ca}`);
' "$tmp/up.json")"
export RSERPOOL_LIVE_CLI="$cli"
(cd wasm/js && node --test test-live/)
