#!/usr/bin/env bash
# Fails the build if a test left a VMM zone (an oxz_* or test cgroup), a propolis-sim or propolis-qemu server, or a
# QEMU behind.
# Run by Maven in the packaging module's verify phase, after every other module's tests.
#
# With --clear it removes such leftovers instead (kills every process in them, then removes the cgroups deepest
# first) and succeeds: .ci/run does that before the build, since a run that was itself killed half-way (a session
# stopped during a test) cannot clean up after itself, and the leak check is about this run's tests.
set -u
mount=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-" && $(i + 1) == "cgroup2") { print $5; exit }}' /proc/self/mountinfo)
leaks=""
if [ -n "$mount" ]; then
  leaks=$(find "$mount" -mindepth 1 -type d \( -name 'oxz_*' -o -name 'sledtest-*' -o -name 'zonetest-*' \
    -o -name 'sled-agent-demo-*' \) 2>/dev/null)
fi
procs=$(pgrep -af 'sledagent.hypervisor.sim.PropolisSimMain|sledagent.hypervisor.qemu.PropolisQemuMain|qemu-system-' \
  | grep -v -e pgrep -e check-leaks -e '<defunct>' || true)

if [ "${1:-}" = "--clear" ]; then
  [ -z "$leaks$procs" ] && exit 0
  echo "clearing leftovers of an earlier run:"
  for dir in $leaks; do
    [ -f "$dir/cgroup.kill" ] && echo 1 > "$dir/cgroup.kill" 2> /dev/null
  done
  [ -n "$procs" ] && printf 'process: %s\n' "$procs" && awk '{print $1}' <<< "$procs" | xargs -r kill -9 2> /dev/null
  sleep 0.5
  # Deepest first: a cgroup is removable once its children are gone and nothing runs in it.
  for dir in $(find $leaks -depth -type d 2> /dev/null | awk '!seen[$0]++'); do
    rmdir "$dir" 2> /dev/null && echo "cgroup: $dir" || echo "cgroup: $dir (cannot remove)"
  done
  exit 0
fi

if [ -n "$leaks$procs" ]; then
  echo "LEAK CHECK FAILED: left behind after the test suite:"
  [ -n "$leaks" ] && printf 'cgroup: %s\n' $leaks
  [ -n "$procs" ] && printf 'process: %s\n' "$procs"
  exit 1
fi
echo "leak check: no zone cgroup, no propolis-sim or propolis-qemu server and no QEMU left"
