#!/usr/bin/env bash
# One propolis-qemu started by hand with the launcher's flags (PropolisSimLauncher.JVM_FLAGS), the tiny guest:
# exec -> its ready line, ensure answered, Run; after WAIT seconds its RSS, PSS and threads. Extra arguments are JVM
# flags, e.g. -XX:SharedArchiveFile=FILE (an archive trained by the agent, or by ClassArchive, for the same jar path).
# Needs `mvn -B -q install -DskipTests` and the guest in perf/target/guest (StopLatency guest --vmm qemu builds it).
#   perf/scripts/propolis-qemu-start.sh                               # without a class archive
#   perf/scripts/propolis-qemu-start.sh -XX:SharedArchiveFile=...jsa  # with one
set -uo pipefail
cd "$(dirname "$0")/../.."
guest=$PWD/perf/target/guest
jar=$PWD/agent/target/sled-agent.jar
run=$(mktemp -d)
java=$(readlink -f "$(command -v java)")
trap 'pkill -KILL -f "qemu-system-x86_64.*$run" 2> /dev/null; kill -KILL "$pid" 2> /dev/null; wait "$pid" 2> /dev/null; rm -rf "$run"' EXIT
t0=$(date +%s%N)
"$java" -Xms8m -Xmx24m -Xss256k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 \
  -XX:ReservedCodeCacheSize=16m -XX:-UsePerfData -Xshare:auto --add-opens=jdk.httpserver/sun.net.httpserver=ALL-UNNAMED \
  -Xlog:disable -Xlog:all=warning:stderr "$@" -cp "$jar" sledagent.hypervisor.qemu.PropolisQemuMain \
  --listen 127.0.0.1:0 --accel tcg --kernel "$guest/vmlinux" --initrd "$guest/initramfs.cpio.gz" \
  --append "$(cat "$guest/cmdline")" --run-dir "$run/vm" > "$run/out" 2> "$run/err" &
pid=$!
while ! grep -q listening "$run/out" 2> /dev/null; do
  kill -0 "$pid" 2> /dev/null || { cat "$run/err"; exit 1; }
  sleep 0.002
done
t1=$(date +%s%N)
port=$(head -1 "$run/out" | sed -E 's/.*:([0-9]+) pid.*/\1/')
body='{"properties":{"id":"00000000-0000-0007-0000-000000000007","name":"vm","description":"","metadata":{"project_id":"00000000-0000-0001-0000-000000000001","silo_id":"00000000-0000-0001-0000-000000000002","sled_id":"00000000-0000-0001-0000-000000000003","sled_model":"m","sled_revision":1,"sled_serial":"s"}},"init":{"method":"Spec","value":{"spec":{"board":{"cpus":1,"memory_mb":192,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},"components":{"com1":{"type":"serial_port","component":{"num":"com1"}}}}}}}'
curl -sf -o /dev/null -X PUT -H 'api-version: 5.0.0' -H 'content-type: application/json' -d "$body" "http://127.0.0.1:$port/instance"
t2=$(date +%s%N)
curl -sf -o /dev/null -X PUT -H 'api-version: 5.0.0' -H 'content-type: application/json' -d '"Run"' "http://127.0.0.1:$port/instance/state"
echo "exec -> listening $(( (t1 - t0) / 1000000 )) ms, ensure answered $(( (t2 - t1) / 1000000 )) ms"
sleep "${WAIT:-4}"
grep -E 'VmRSS|RssAnon|RssFile|Threads' "/proc/$pid/status" | tr -s ' \t' ' ' | paste -sd' '
grep -E '^Pss:|^Private' "/proc/$pid/smaps_rollup" | tr -s ' ' | paste -sd' '
