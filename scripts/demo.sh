#!/usr/bin/env bash
# The README's first command. Installs what a real guest needs where it can (Debian, as root: QEMU, the Debian
# kernel, busybox-static, cpio, xz-utils, with --no-install-recommends, only what is missing), builds, and runs
# `sled-agent demo`: real guests under QEMU, or, where they cannot be had, the simulator (the demo says which).
# Arguments go to the demo (e.g. --stop-grace 5s, --sim).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v qemu-system-x86_64 > /dev/null || missing+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' > /dev/null || missing+=(linux-image-amd64)
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" > /dev/null 2>&1; then
  missing+=(busybox-static)
fi
command -v cpio > /dev/null || missing+=(cpio)
command -v xz > /dev/null || missing+=(xz-utils)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get > /dev/null; then
    echo "== installing ${missing[*]} (for a real guest)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; }; then
      echo "== could not install ${missing[*]}: the demo will run the simulator"
    fi
  else
    echo "== ${missing[*]} missing and not installable here (needs root on Debian): the demo will run the simulator"
  fi
fi

echo "== building"
mvn -B -q package -DskipTests
exec java -jar agent/target/sled-agent.jar demo "$@"
