#!/bin/bash
# propolis-sim footprint: exec -> first answer of GET /instance, and RSS (sim and its helper child)
# after ensure + Run; 10 runs. Usage: perf/scripts/sim-footprint.sh ["JVM flags"] (default: the launcher's).
JAR="$(cd "$(dirname "$0")/../.." && pwd)/agent/target/sled-agent.jar"
FLAGS="${1:--Xms8m -Xmx24m -Xss256k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:ReservedCodeCacheSize=16m -XX:-UsePerfData -Xshare:auto}"
for i in $(seq 1 10); do
  port=$((20000 + RANDOM % 20000))
  t0=$(date +%s%N)
  java $FLAGS -cp $JAR sledagent.hypervisor.sim.PropolisSimMain --listen 127.0.0.1:$port >/dev/null 2>&1 &
  pid=$!
  until curl -s -o /dev/null -H 'api-version: 5.0.0' http://127.0.0.1:$port/instance; do sleep 0.002; done
  t1=$(date +%s%N)
  curl -s -o /dev/null -X PUT -H 'api-version: 5.0.0' -H 'content-type: application/json' http://127.0.0.1:$port/instance -d '{"properties":{"id":"'$(cat /proc/sys/kernel/random/uuid)'","name":"x","description":"d","metadata":{"project_id":"'$(cat /proc/sys/kernel/random/uuid)'","silo_id":"'$(cat /proc/sys/kernel/random/uuid)'","sled_id":"'$(cat /proc/sys/kernel/random/uuid)'","sled_model":"m","sled_revision":0,"sled_serial":"s"}},"init":{"method":"Spec","value":{"spec":{"board":{"chipset":{"type":"i440_fx","value":{"enable_pcie":false}},"cpus":1,"memory_mb":512},"components":{}}}}}'
  curl -s -o /dev/null -X PUT -H 'api-version: 5.0.0' -H 'content-type: application/json' http://127.0.0.1:$port/instance/state -d '"Run"'
  sleep 0.3
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  child=$(pgrep -P $pid | head -1); crss=$(awk '/VmRSS/{print $2}' /proc/$child/status 2>/dev/null)
  echo "$(( (t1-t0)/1000000 )) ms  rss ${rss} kB  child ${crss} kB"
  pkill -9 -P $pid; kill -9 $pid; wait $pid 2>/dev/null
done
