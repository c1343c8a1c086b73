#!/usr/bin/env bash
# Fails the build if a test left a VMM zone (an oxz_* or test cgroup), a propolis-sim or propolis-qemu server, or a
# QEMU behind.
# Run by Maven in the packaging module's verify phase, after every other module's tests.
set -u
mount=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-" && $(i + 1) == "cgroup2") { print $5; exit }}' /proc/self/mountinfo)
leaks=""
if [ -n "$mount" ]; then
  leaks=$(find "$mount" -mindepth 1 -type d \( -name 'oxz_*' -o -name 'sledtest-*' -o -name 'zonetest-*' \
    -o -name 'sled-agent-demo-*' \) 2>/dev/null)
fi
procs=$(pgrep -af 'sledagent.hypervisor.sim.PropolisSimMain|sledagent.hypervisor.qemu.PropolisQemuMain|qemu-system-' \
  | grep -v -e pgrep -e check-leaks || true)
if [ -n "$leaks$procs" ]; then
  echo "LEAK CHECK FAILED: left behind after the test suite:"
  [ -n "$leaks" ] && printf 'cgroup: %s\n' $leaks
  [ -n "$procs" ] && printf 'process: %s\n' "$procs"
  exit 1
fi
echo "leak check: no zone cgroup, no propolis-sim or propolis-qemu server and no QEMU left"
