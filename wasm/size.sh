#!/usr/bin/env bash
# Size of what a browser downloads: the optimised wasm and the JS glue of
# the web build, raw and gzip -9 (BENCHMARKS.md, goal <= 60 KB gzip).
set -euo pipefail
d="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pkg/package/web"
w="$d/rserpool_wasm_bg.wasm"; j="$d/rserpool_wasm.js"
raw() { wc -c <"$1"; }
gz() { gzip -9c "$1" | wc -c; }
total=$(($(gz "$w") + $(gz "$j")))
printf 'wasm %d B (gzip %d B), JS glue %d B (gzip %d B), total gzip %d B = %.1f KB\n' \
    "$(raw "$w")" "$(gz "$w")" "$(raw "$j")" "$(gz "$j")" "$total" "$(awk -v t="$total" 'BEGIN { print t / 1024 }')"
