#!/usr/bin/env bash
# Fuzzes the ASAP/ENRP decoder for a bounded time (FUZZ_SECONDS, default 60),
# then the per-parameter decoders (FUZZ_PARAM_SECONDS, default 20), both
# seeded with every captured RSPLIB message. See README "Fuzzing".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
vectors="$root/testdata/vectors"
corpus="$root/fuzz/corpus/decode"
pcorpus="$root/fuzz/corpus/param"
mkdir -p "$corpus" "$pcorpus"
for f in "$vectors"/*.hex; do
    name="$(basename "$f" .hex)"
    # decode: each vector, prefixed with the selector byte for ASAP (0) and ENRP (1).
    for sel in 00 01; do
        { printf "\\x$sel"; xxd -r -p "$f"; } > "$corpus/$name-$sel"
    done
    # param: the message body from its first parameter on (offset 4 for
    # most ASAP types), prefixed with each parameter selector 0..9.
    for sel in 00 01 02 03 04 05 06 07 08 09; do
        { printf "\\x$sel"; xxd -r -p "$f" | tail -c +5; } > "$pcorpus/$name-$sel"
    done
done
# The codec's optional serde derives (CLI --json, gateway tap, browser
# binding) are not built by the plain workspace test: check them here.
(cd "$root" && cargo test -p client-core --features serde --locked --test wire_serde)
cd "$root/fuzz"
cargo +nightly fuzz run decode "$corpus" -- -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048
cargo +nightly fuzz run param "$pcorpus" -- -max_total_time="${FUZZ_PARAM_SECONDS:-20}" -rss_limit_mb=2048
