#!/bin/bash
# Regenerates every figure of perf/RESULTS.md's generated block (JMH + LoadTool get-state, lifecycle, scale) and
# splices it into RESULTS.md between the "loadtool:begin" and "loadtool:end" markers (the rest of the file is
# left alone). Run from anywhere, as root (lifecycle makes cgroups; skipped with a note otherwise).
#
#   perf/scripts/run-all.sh            # about 12 minutes on 2 cores (build 1, JMH 6, get-state 4, scale 2)
#   QUICK=1 perf/scripts/run-all.sh    # about 4.5 minutes: shorter JMH and load runs, 20,000 VMMs for scale
#
# Environment: QUICK=1 (short settings), BUILD=0 (use the jar as built), SPLICE=0 (write
# perf/target/results/run-all/RESULTS.generated.md only), OUT=DIR (default perf/target/results/run-all).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-perf/target/results/run-all}
JAR=perf/target/benchmarks.jar
QUICK=${QUICK:-0}
start=$(date +%s)

if [ "${BUILD:-1}" = 1 ]; then
    echo "== build (mvn -B -q -o install -DskipTests)"
    mvn -B -q -o install -DskipTests
fi
rm -rf "$OUT"
mkdir -p "$OUT"

BENCHES='sledagent\.perf\.(Table|Json|Lifecycle|Mailbox|Timer)Benchmark'
if [ "$QUICK" = 1 ]; then
    JMH_OPTS="-wi 1 -w 1 -i 2 -r 1 -f 1 -prof gc"
    GET_STATE="--rates 1000,20000 --duration-s 3 --warmup-s 2 --repeat 1"
    LIFECYCLE="--vmms 6 --concurrency 2 --warmup 1"
    SCALE="--vmms 20000 --duration-s 3 --warmup-s 2"
else
    JMH_OPTS="-wi 2 -w 1 -i 3 -r 1 -f 1 -prof gc"
    GET_STATE="--rates 1000,10000,20000 --duration-s 10 --warmup-s 5 --repeat 3 --jfr"
    LIFECYCLE="--vmms 24 --concurrency 4 --warmup 2"
    SCALE="--vmms 100000 --duration-s 10 --warmup-s 5 --repeat 3 --jfr"
fi

echo "== JMH ($JMH_OPTS)"
JMH_CMD="java -jar $JAR $JMH_OPTS -rf json -rff $OUT/jmh.json '$BENCHES'"
java -jar $JAR $JMH_OPTS -rf json -rff "$OUT/jmh.json" "$BENCHES" > "$OUT/jmh.txt" 2>&1 \
    || { tail -40 "$OUT/jmh.txt"; exit 1; }
sed -n '/^Benchmark /,$p' "$OUT/jmh.txt" | grep -v ':gc\.\(count\|time\|alloc\.rate \)' || true

echo "== LoadTool get-state $GET_STATE"
java -cp $JAR sledagent.perf.LoadTool get-state $GET_STATE --out "$OUT" | tee "$OUT/get-state.txt"

if [ "$(id -u)" = 0 ]; then
    echo "== LoadTool lifecycle $LIFECYCLE"
    java -cp $JAR sledagent.perf.LoadTool lifecycle $LIFECYCLE --out "$OUT" | tee "$OUT/lifecycle.txt"
else
    echo "== LoadTool lifecycle skipped: needs root (cgroup zones)"
fi

echo "== LoadTool scale $SCALE (-Xmx1g: the target is 100,000 VMMs in at most 1 GB of heap)"
java -Xmx1g -cp $JAR sledagent.perf.LoadTool scale $SCALE --out "$OUT" | tee "$OUT/scale.txt"

SPLICE_ARGS=()
if [ "${SPLICE:-1}" = 1 ]; then
    SPLICE_ARGS=(--splice perf/RESULTS.md)
fi
java -cp $JAR sledagent.perf.LoadTool report --results "$OUT" --jmh "$OUT/jmh.json" \
    --jmh-command "$JMH_CMD" "${SPLICE_ARGS[@]}"

echo "== leftovers (expected none): sledperf cgroups and sims"
find /sys/fs/cgroup -maxdepth 3 -name 'sledperf-*' -type d 2>/dev/null || true
pgrep -af PropolisSimMain | grep benchmarks.jar || true
echo "run-all: $(( $(date +%s) - start )) s"
