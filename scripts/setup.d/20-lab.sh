#!/usr/bin/env bash
# The lab environment: qemu (TCG micro-VM), busybox-static and cpio for its
# initramfs, RSPLIB (registrar, PE services, tools) whose programs and
# libraries are copied into the image, and the musl target (+ musl-gcc for
# ring) for the project's static binaries that run inside the VM. The kernel
# package is fetched by the lab itself (apt-get download of its exact name).
# nftables: nft, copied into the image for the lab's stand-in defences
# (packet-filter allow-lists, docs/lab-defences.md).
# tcpdump: copied into the image (and run on the host in native mode) to
# capture a scenario run's ASAP/ENRP traffic (`scenario run --pcap`).
# libnss3-tools: certutil, with which `rserpool lab trust` imports the lab CA
# into Chromium's and Firefox's certificate stores.
set -euo pipefail
case "${1:-install}" in
apt-packages)
    echo "qemu-system-x86 busybox-static cpio rsplib-registrar rsplib-services rsplib-tools musl-tools iproute2 gcc librsplib-dev libnss3-tools nftables tcpdump"
    ;;
install)
    export PATH="$HOME/.cargo/bin:$PATH"
    rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
    ;;
esac
