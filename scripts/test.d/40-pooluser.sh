#!/usr/bin/env bash
# Pool-user events and Config must serialize (feature `serde`, used by the
# CLI's --json, the gateway tap and the browser binding); the plain workspace
# test does not enable the feature, so build and run that test here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
cargo test -p client-core --features serde --locked --test pool_user_serde
