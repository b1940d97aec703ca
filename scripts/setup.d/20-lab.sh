#!/usr/bin/env bash
# The lab environment: qemu (TCG micro-VM), busybox-static and cpio for its
# initramfs, RSPLIB (registrar, PE services, tools) whose programs and
# libraries are copied into the image. The kernel package is fetched by the
# lab itself (apt-get download of its exact name) and cached.
set -euo pipefail
case "${1:-install}" in
apt-packages)
    echo "qemu-system-x86 busybox-static cpio rsplib-registrar rsplib-services rsplib-tools"
    ;;
install) ;;
esac
