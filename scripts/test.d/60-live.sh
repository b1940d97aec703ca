#!/usr/bin/env bash
# Live end-to-end: boots the lab (RSPLIB registrars + PEs + our gateway, in
# the micro-VM here) and runs the packed npm package against it from Node
# (resolve at every registrar, unknown pool, session + PE kill + failover)
# and the native CLI through the gateway (resolve, a gateway certified by
# another CA skipped, session failover on PE kill).
# Needs wasm/pkg/*.tgz from 50-wasm.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
cargo build --locked -q -p rserpool-cli -p rserpool-gateway
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
  console.log(`export RSERPOOL_LIVE_CA=${s.gateway_ca}`);
' "$tmp/up.json")"
export RSERPOOL_LIVE_CLI="$cli"
export RSERPOOL_LIVE_GATEWAY_BIN="$root/target/debug/rserpool-gateway"
# Between suites: restart PEs a test killed, then wait until every
# registrar shows exactly the 4 PEs again (dead ones expire by keep-alive).
restore() {
    for pe in $("$cli" --json lab status | node -e '
        const ps = JSON.parse(require("fs").readFileSync(0, "utf8"));
        for (const p of ps) if (p.kind === "pool-element" && p.state !== "running") console.log(p.name);'); do
        "$cli" lab restart "$pe"
    done
    for _ in $(seq 120); do
        ok=1
        for i in 1 2 3; do
            "$cli" lab exec hsdump "10.1.0.$i:9901" 2>/dev/null | grep -q 'Pool "EchoPool".*(4 nodes)' || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.5
    done
    echo "topology not restored" >&2
    return 1
}
(cd wasm/js && node --test test-live/)
restore
node --test tests/live/
