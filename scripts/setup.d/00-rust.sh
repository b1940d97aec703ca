#!/usr/bin/env bash
# Rust toolchain parts shared by the whole workspace.
set -euo pipefail
case "${1:-install}" in
apt-packages) echo "pkg-config" ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    installed="$(rustup target list --installed)"
    for t in wasm32-unknown-unknown; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t"
    done
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
    ;;
esac
