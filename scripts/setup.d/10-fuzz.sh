#!/usr/bin/env bash
# cargo-fuzz (libFuzzer) for the codec fuzz target; needs the nightly toolchain.
set -euo pipefail
case "${1:-install}" in
apt-packages) echo "xxd" ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    ;;
esac
