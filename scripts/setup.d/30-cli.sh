#!/usr/bin/env bash
# The `rserpool` command line and the native SCTP transport (cli/, sctp/).
# Both are plain Rust over libc: no libsctp, no libpcap. They need a C
# toolchain only for linking (and for ring once wss:// uses rustls).
set -euo pipefail
case "${1:-install}" in
apt-packages) echo "gcc libc6-dev" ;;
install)
    # Nothing beyond the Rust toolchain (00-rust.sh). Kernel SCTP is not
    # needed to build or test: without it the transport reports
    # "kernel has no SCTP" and the interop tests run in the lab VM.
    :
    ;;
esac
