#!/usr/bin/env bash
# cargo-fuzz (libFuzzer) for the codec fuzz target; needs the nightly toolchain.
set -euo pipefail
case "${1:-install}" in
# libFuzzer is C++ (built by libfuzzer-sys with the system C++ compiler);
# xxd turns the hex vectors into seed files.
apt-packages) echo "g++ xxd" ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    ;;
esac
