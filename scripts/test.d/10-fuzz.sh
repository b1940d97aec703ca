#!/usr/bin/env bash
# Fuzzes the ASAP/ENRP decoder for a bounded time (FUZZ_SECONDS, default 60),
# seeded with every captured RSPLIB message. See README "Fuzzing".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
vectors="${RSERPOOL_VECTORS:-$root/../shared/vectors}"
corpus="$root/fuzz/corpus/decode"
mkdir -p "$corpus"
# Seeds: each vector, prefixed with the selector byte for ASAP (0) and ENRP (1).
for f in "$vectors"/*.hex; do
    name="$(basename "$f" .hex)"
    for sel in 00 01; do
        { printf "\\x$sel"; xxd -r -p "$f"; } > "$corpus/$name-$sel"
    done
done
cd "$root/fuzz"
cargo +nightly fuzz run decode "$corpus" -- -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048
