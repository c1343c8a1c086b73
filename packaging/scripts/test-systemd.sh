#!/usr/bin/env bash
# The .deb under a real systemd: boots a Debian rootfs (systemd 252 as its PID 1) in systemd-nspawn,
# installs the built .deb there and checks, with the container's own systemctl and journalctl:
#   1. the fresh install is loaded but neither enabled nor started (postinst);
#   2. `systemctl start` returns only once the agent said READY=1 (Type=notify): /health answers at
#      once, and the agent logged "listening" before systemd entered "active";
#   3. a VMM started through the API keeps its pids across `systemctl restart` and is re-adopted;
#   4. `systemctl stop` exits the agent cleanly (status 0) and leaves the VMM running (KillMode=process);
#      `systemctl start` re-adopts it; so does an upgrade (the same .deb installed again: try-restart);
#   5. the WATCHDOG=1 pings reach systemd; a frozen agent (SIGSTOP) is aborted by the watchdog and
#      restarted; the VMM is re-adopted;
#   6. `apt-get remove` stops the agent and keeps the conffiles, `apt-get purge` removes them and the
#      enablement link but keeps /var/lib/sled-agent, whose records a reinstalled agent re-adopts;
#   7. the VMM is stopped through the API and the container powered off.
# The container's config runs the simulator (SLED_AGENT_ARGS=--vmm sim in /etc/default/sled-agent): the
# packaged config wants QEMU and OVMF, and this test is about systemd, not guests. A drop-in sets
# WatchdogSec=5s so the watchdog check takes seconds, not the unit's 30 s.
#
# Run by Maven in the packaging module's integration-test phase, after test-packages.sh and before the
# leak check (skipped with -DskipTests or -DskipSystemdTest):
#   test-systemd.sh <version> <out dir>
# Needs root, systemd-nspawn (systemd-container), nsenter, a cgroup v2 mount, and to build the rootfs
# once, debootstrap and a Debian mirror. The rootfs (with a JRE) is cached as
# $SLED_AGENT_TEST_CACHE/rootfs-<hash of its recipe>.tar (default /var/cache/sled-agent-test) and in
# <out dir>/systemd-test/. Without root or the tools it skips, unless SLED_AGENT_REQUIRE_TOOLS=1.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <version> <out dir>" >&2
    exit 2
fi
version=$1
out=$2
debversion=${version/-SNAPSHOT/~snapshot}
deb=$out/sled-agent_${debversion}_all.deb
work=$out/systemd-test
cache=${SLED_AGENT_TEST_CACHE:-/var/cache/sled-agent-test}
mirror=${SLED_AGENT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }
# die: a failure the following checks depend on.
die() { fail "$*"; exit 1; }
skip_all() {
    if [ "${SLED_AGENT_REQUIRE_TOOLS:-0}" = 1 ]; then
        echo "FAIL: systemd test: $* (SLED_AGENT_REQUIRE_TOOLS=1)" >&2
        exit 1
    fi
    echo "SKIP: systemd test: $*"
    exit 0
}
have() { command -v "$1" > /dev/null 2>&1; }

[ "$(id -u)" = 0 ] || skip_all "needs root (systemd-nspawn, cgroups)"
have systemd-nspawn || skip_all "systemd-nspawn is not installed (apt-get install systemd-container)"
have nsenter || skip_all "nsenter is not installed (util-linux)"
[ -f "$deb" ] || skip_all "no .deb at $deb (dpkg-deb missing at package time?)"
v2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$v2" ] || skip_all "no cgroup v2 mount (the agent's zones and the container's systemd need one)"
# The named v1 hierarchy of a hybrid host (as in CI): the container's cgroup is made there too.
v1=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ { print $5; exit }' /proc/self/mountinfo)

# --- the rootfs: debootstrap + a JRE, cached by the hash of this recipe ----------------------------
# build_rootfs <dir>: its text (declare -f) is the cache key, so any change here rebuilds the cache.
build_rootfs() {
    # Explicit returns: set -e does not apply inside a function called as a condition.
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$1" "$mirror" || return 1
    # The JRE's postinst (and java itself: $ORIGIN in its RUNPATH) needs /proc.
    mount -t proc proc "$1/proc" || return 1
    local status=0
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -ec '
        apt-get update -q
        apt-get install -y -q --no-install-recommends openjdk-17-jre-headless curl procps
        apt-get clean
        rm -rf /var/lib/apt/lists/*
        java -version' || status=$?
    umount "$1/proc" || status=1
    return $status
}
key=$(declare -f build_rootfs | sha256sum | cut -c1-16)
tarball=rootfs-$key.tar
mkdir -p "$work"
if [ -f "$work/$tarball" ]; then
    echo "rootfs: $work/$tarball (build folder)"
elif [ -f "$cache/$tarball" ]; then
    ln -f "$cache/$tarball" "$work/$tarball" 2> /dev/null || cp "$cache/$tarball" "$work/$tarball"
    echo "rootfs: $cache/$tarball (cache)"
else
    have debootstrap || skip_all "no cached rootfs ($cache/$tarball) and debootstrap is not installed"
    mkdir -p "$cache"
    # One builder at a time; a second run waits (bounded) and then finds the tarball.
    exec 9> "$cache/.lock"
    flock -w 900 9 || die "rootfs: waited 900 s for $cache/.lock"
    if [ ! -f "$cache/$tarball" ]; then
        started=$SECONDS
        build=$work/rootfs-build
        rm -rf "$build"
        if ! build_rootfs "$build" > "$work/rootfs-build.log" 2>&1; then
            tail -20 "$work/rootfs-build.log" >&2
            die "rootfs: debootstrap or the JRE install failed (log: $work/rootfs-build.log)"
        fi
        tar -C "$build" -cf "$cache/$tarball.tmp.$$" .
        # Older recipes' tarballs are 360 MB each: keep only this one.
        find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$tarball" -delete
        mv "$cache/$tarball.tmp.$$" "$cache/$tarball"
        rm -rf "$build"
        echo "rootfs: built $cache/$tarball in $((SECONDS - started)) s ($(du -m "$cache/$tarball" | cut -f1) MB)"
    fi
    exec 9>&-
    ln -f "$cache/$tarball" "$work/$tarball" 2> /dev/null || cp "$cache/$tarball" "$work/$tarball"
fi
find "$work" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$tarball" -delete
rm -f "$work/journal.txt"
started=$SECONDS

# --- the container ----------------------------------------------------------------------------------
machine=sledtest-nspawn-$$
root=$work/root
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xf "$work/$tarball"
# Not /tmp: the container's systemd mounts a tmpfs over it.
cp "$deb" "$root/root/sled-agent.deb"
vmm=44444444-4444-4444-8444-444444444444
# An InstanceEnsureBody (sled-agent v48), as agent/.../demo/ExampleBodies makes them.
cat > "$root/root/vmm-ensure.json" <<EOF
{"instance_id":"11111111-1111-4111-8111-111111111111","propolis_addr":"127.0.0.1:12400",
 "vmm_runtime":{"state":"starting","gen":1,"time_updated":"2026-11-24T00:00:00Z"},
 "migration_id":null,
 "metadata":{"project_id":"22222222-2222-4222-8222-222222222222","silo_id":"33333333-3333-4333-8333-333333333333"},
 "vmm_spec":{"board":{"cpus":1,"memory_mb":512,"chipset":{"type":"i440_fx","value":{"enable_pcie":false}}},
             "components":{"com1":{"type":"serial_port","component":{"num":"com1"}}}},
 "local_config":{"hostname":"systemd-test-vm","nics":[],"external_ips":{},"firewall_rules":[],
    "dhcp_config":{"dns_servers":[],"search_domains":[]},"delegated_zvols":[],"multicast_groups":[],
    "attached_subnets":[]}}
EOF

# nspawn --keep-unit puts the container below its own cgroup (<cg>/payload, <cg>/supervisor): give it
# one of ours, so it is found and removed whatever happens (and the leak check sees it if not).
cgroups=("$v2/$machine")
[ -z "$v1" ] || cgroups+=("$v1/$machine")
nspawn_pid=
pid1=

ctr() {
    timeout "${ctr_timeout_s:-60}" nsenter -t "$pid1" -a \
        /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

cleanup() {
    local status=$? cg i
    trap - EXIT ERR
    set +e
    if [ -n "$pid1" ] && kill -0 "$pid1" 2> /dev/null; then
        if [ $status -ne 0 ] || [ $failures -ne 0 ]; then
            echo "--- sled-agent journal in the container (last 40 lines)" >&2
            ctr_timeout_s=10 ctr journalctl --no-pager -n 40 -u sled-agent >&2
            ctr_timeout_s=10 ctr journalctl --no-pager -o short-monotonic > "$work/journal.txt" 2>&1
            echo "--- the container's whole journal: $work/journal.txt" >&2
        fi
        # Every VMM zone first (cgroup.kill), then the container.
        for cg in "$v2/$machine"/payload/system.slice/sled-agent.service/oxz_*; do
            [ -d "$cg" ] && echo 1 > "$cg/cgroup.kill"
        done
        ctr_timeout_s=10 ctr systemctl poweroff > /dev/null 2>&1
    fi
    if [ -n "$nspawn_pid" ]; then
        for ((i = 0; i < 120; i++)); do
            kill -0 "$nspawn_pid" 2> /dev/null || break
            sleep 0.25
        done
        if kill -0 "$nspawn_pid" 2> /dev/null; then
            echo "cleanup: the container did not power off in 30 s: killing its cgroup" >&2
        fi
    fi
    # Whatever is left (a container that would not stop, a VMM) dies with the cgroup; then the tree goes.
    for cg in "${cgroups[@]}"; do
        [ -d "$cg" ] || continue
        [ -f "$cg/cgroup.kill" ] && echo 1 > "$cg/cgroup.kill"
        for ((i = 0; i < 40; i++)); do
            find "$cg" -depth -type d -exec rmdir {} \; 2> /dev/null
            [ -d "$cg" ] || break
            sleep 0.25
        done
        [ -d "$cg" ] && echo "cleanup: could not remove $cg" >&2
    done
    [ -n "$nspawn_pid" ] && wait "$nspawn_pid" 2> /dev/null
    # nspawn's leftovers (it removes them itself on a clean exit): the machine's propagation directory and
    # the image's lock, named after the rootfs directory's device and inode.
    rm -rf "/run/systemd/nspawn/propagate/$machine"
    [ -d "$root" ] && rm -f "/run/systemd/nspawn/locks/inode-$(stat -c %d:%i "$root")"
    rm -rf "$root"
    if [ $status -eq 0 ] && [ $failures -ne 0 ]; then
        status=1
    fi
    [ $status -eq 0 ] \
        || echo "SYSTEMD TEST FAILED (exit $status): $failures failure(s) (nspawn log: $work/nspawn.log)" >&2
    exit $status
}
trap cleanup EXIT
# A command that fails outside a check (set -e) is a failure too: say where (not for the command
# substitutions inside a failure's message, which run in subshells).
set -E
trap '[ "$BASH_SUBSHELL" -gt 0 ] || fail "unexpected exit status $? at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

for cg in "${cgroups[@]}"; do
    mkdir "$cg"
done
(
    for cg in "${cgroups[@]}"; do
        echo "$BASHPID" > "$cg/cgroup.procs"
    done
    # Unified cgroups inside (the agent expects /sys/fs/cgroup/system.slice/...); --keep-unit and
    # --register=no: no machined on this host; a private network: the agent's 127.0.0.1:12345 is the
    # container's own.
    exec env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -D "$root" -M "$machine" --register=no \
        --keep-unit --private-network --console=pipe -b
) > "$work/nspawn.log" 2>&1 &
nspawn_pid=$!

# wait_until <deadline s> <command...>: polls every 0.25 s.
wait_until() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.25
    done
}
find_pid1() {
    kill -0 "$nspawn_pid" 2> /dev/null || return 1
    pid1=$(pgrep -P "$nspawn_pid" | head -1)
    [ -n "$pid1" ] && [ "$(cat "/proc/$pid1/comm" 2> /dev/null)" = systemd ]
}
wait_until 30 find_pid1 || { cat "$work/nspawn.log" >&2; die "container: no systemd started in 30 s"; }
state=$(ctr systemctl is-system-running --wait 2> /dev/null) || true
case $state in
    running)
        pass "container: systemd $(ctr systemctl --version | awk 'NR==1{print $2}') booted, running (host pid $pid1)" ;;
    degraded)
        pass "container: systemd booted, degraded:" \
            "$(ctr systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')" ;;
    *) die "container: systemd is '$state'" ;;
esac

# --- helpers inside the container -------------------------------------------------------------------
zone=/sys/fs/cgroup/system.slice/sled-agent.service/oxz_propolis-server_$vmm
show() { ctr systemctl show -P "$1" sled-agent; }
api() { ctr curl -sS -m 10 -H 'api-version: 48.0.0' -H 'content-type: application/json' "$@"; }
vmm_state() { api "http://127.0.0.1:12345/vmms/$vmm/state" 2> /dev/null \
    | sed -n 's/.*"vmm_state":{"state":"\([a-z_]*\)".*/\1/p'; }
# The zone's pids, "" once it is gone.
vmm_pids() { { ctr cat "$zone/cgroup.procs" 2> /dev/null || true; } | sort -n | tr '\n' ' '; }
# mark: a journal cursor; since <cursor>: the unit's journal after it (systemd's lines and the agent's).
mark() { ctr journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p'; }
since() { ctr journalctl --no-pager -q -o cat -u sled-agent --after-cursor="$1"; }
journal_has() { since "$1" | grep -qF -- "$2"; }
state_is() { [ "$(vmm_state)" = "$1" ]; }
main_pid() { show MainPID; }
running_again() { [ "$(show SubState)" = running ] && [ "$(main_pid)" != "$1" ] && [ "$(main_pid)" != 0 ]; }
# readopted <cursor> <what>: the agent started after <cursor> re-adopted the VMM, which still runs.
readopted() {
    if wait_until 20 journal_has "$1" "re-adopted 1 running VMM process(es)" && wait_until 20 state_is running
    then
        pass "$2: the agent re-adopted the VMM (journal: 're-adopted 1 running VMM'), state still running"
    else
        fail "$2: VMM not re-adopted: state '$(vmm_state)', journal: $(since "$1" | grep -F recovered)"
    fi
}
same_pids() {
    local now
    now=$(vmm_pids)
    [ "$now" = "$2" ] && pass "$1: the VMM's processes kept their pids ($now)" \
        || fail "$1: the VMM's pids were '$2', now '$now'"
}
# usec <systemd or agent timestamp>: microseconds since the epoch (both clocks are the host's).
usec() { date -u -d "$1" +%s%6N; }

# --- 1. install ---------------------------------------------------------------------------------------
ctr sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/sled-agent.deb' > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; die "install: apt-get install /root/sled-agent.deb failed"; }
installed=$(ctr dpkg-query -W -f '${Version} ${db:Status-Status}' sled-agent)
[ "$installed" = "$debversion installed" ] && pass "install: apt-get install ./sled-agent_${debversion}_all.deb" \
    || die "install: dpkg says '$installed'"
[ "$(show LoadState) $(ctr systemctl is-enabled sled-agent) $(show ActiveState)" = "loaded disabled inactive" ] \
    && pass "install: the unit is loaded, disabled and inactive (postinst neither enables nor starts it)" \
    || fail "install: unit is $(show LoadState), $(ctr systemctl is-enabled sled-agent), $(show ActiveState)"

# The packaged config wants QEMU and OVMF (serve exits 2 without them): the simulator instead, through
# the documented override. A short watchdog, so its check takes seconds.
ctr sh -ec 'echo "SLED_AGENT_ARGS=--vmm sim" >> /etc/default/sled-agent
    mkdir -p /etc/systemd/system/sled-agent.service.d
    printf "[Service]\nWatchdogSec=5s\n" > /etc/systemd/system/sled-agent.service.d/50-test-watchdog.conf
    systemctl daemon-reload'

# --- 2. start: active only after READY=1 --------------------------------------------------------------
cursor=$(mark)
first_cursor=$cursor
ctr systemctl start sled-agent || die "start: systemctl start sled-agent failed"
# No retry: with Type=notify `systemctl start` returned after READY=1, which the agent sends once it listens.
if health=$(api -f http://127.0.0.1:12345/health 2>&1) && grep -q '"vmm":"sim' <<< "$health"; then
    pass "start: GET /health answered at once after systemctl start returned: $health"
else
    fail "start: GET /health right after systemctl start: $health"
fi
[ "$(show ActiveState)/$(show SubState) $(show StatusText)" = "active/running serving" ] \
    && pass "start: active/running, StatusText 'serving' (sent with READY=1)" \
    || fail "start: $(show ActiveState)/$(show SubState), StatusText '$(show StatusText)'"
# The agent's own clock stamp of "listening" precedes systemd's entry into active (Type=simple: the
# reverse, active at exec, seconds before the JVM listens).
listening=$(since "$cursor" | sed -n 's/^\([0-9T:.-]*Z\) INFO HttpServer: listening on.*/\1/p' | head -1)
active=$(ctr systemctl show --timestamp=us+utc -P ActiveEnterTimestamp sled-agent)
exec_start=$(ctr systemctl show --timestamp=us+utc -P ExecMainStartTimestamp sled-agent)
active=${active#* }
exec_start=${exec_start#* }
if [ -n "$listening" ] && [ -n "$active" ] && [ "$(usec "$listening")" -le "$(usec "$active")" ]; then
    pass "start: the agent logged 'listening' at $listening, systemd entered active at $active" \
        "(exec at $exec_start)"
else
    fail "start: active at '$active' but the agent logged 'listening' at '$listening' (exec at $exec_start)"
fi
wait_until 10 journal_has "$cursor" "ready (told systemd)" \
    && pass "start: the journal has the agent's 'ready (told systemd)'" \
    || fail "start: no 'ready (told systemd)' in the journal"
nofile=$(ctr sh -c "sed -n 's/^Max open files *\([0-9]*\).*/\1/p' /proc/$(main_pid)/limits")
# WatchdogUSec is the running service's value (infinity before the start).
[ "$(show Delegate) $(show WatchdogUSec)" = "yes 5s" ] \
    && pass "start: Delegate=yes, WatchdogUSec=5s (the test's drop-in), LimitNOFILE=$(show LimitNOFILE)" \
    || fail "start: Delegate is $(show Delegate), WatchdogUSec $(show WatchdogUSec)"
[ "$nofile" = "$(show LimitNOFILE)" ] \
    || echo "note: LimitNOFILE=$(show LimitNOFILE) is cut to $nofile here:" \
        "the host's hard limit (ulimit -Hn $(ulimit -Hn))"

# --- 3. a VMM, and systemctl restart ------------------------------------------------------------------
api -f -X PUT --data @/root/vmm-ensure.json "http://127.0.0.1:12345/vmms/$vmm" > /dev/null \
    || die "vmm: PUT /vmms/$vmm failed"
api -f -X PUT -d '{"state":{"type":"running"}}' "http://127.0.0.1:12345/vmms/$vmm/state" > /dev/null \
    || die "vmm: PUT /vmms/$vmm/state running failed"
wait_until 60 state_is running || die "vmm: state is '$(vmm_state)', not running, after 60 s"
pids=$(vmm_pids)
[ -n "$pids" ] || die "vmm: no processes in $zone"
pass "vmm: $vmm running (propolis-sim), zone $zone below the unit's cgroup, pids $pids"

agent=$(main_pid)
cursor=$(mark)
ctr systemctl restart sled-agent || die "restart: systemctl restart failed"
[ "$(main_pid)" != "$agent" ] && [ "$(show ActiveState)" = active ] \
    && pass "restart: a new agent (pid $agent -> $(main_pid)) is active" \
    || fail "restart: agent pid $agent -> $(main_pid), $(show ActiveState)"
same_pids restart "$pids"
readopted "$cursor" restart

# --- 4. stop, start, upgrade --------------------------------------------------------------------------
cursor=$(mark)
ctr systemctl stop sled-agent || die "stop: systemctl stop failed"
stopped="$(show ActiveState) $(show Result) $(show ExecMainCode) $(show ExecMainStatus)"
# ExecMainCode 1 = CLD_EXITED: the agent exited by itself (status 0), not killed after TimeoutStopSec.
[ "$stopped" = "inactive success 1 0" ] && pass "stop: inactive, Result=success, the agent exited with status 0" \
    || fail "stop: ActiveState Result ExecMainCode ExecMainStatus = $stopped"
journal_has "$cursor" "stopping: no new requests; VMMs keep running" \
    && pass "stop: the agent logged 'stopping: no new requests; VMMs keep running'" \
    || fail "stop: no 'stopping' line from the agent"
same_pids stop "$pids"
cursor=$(mark)
ctr systemctl start sled-agent || die "start after stop: systemctl start failed"
readopted "$cursor" "start after stop"
same_pids "start after stop" "$pids"

agent=$(main_pid)
cursor=$(mark)
ctr sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall /root/sled-agent.deb' \
    > "$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "upgrade: apt-get install --reinstall failed"; }
[ "$(main_pid)" != "$agent" ] && [ "$(show ActiveState)" = active ] \
    && pass "upgrade (reinstall): postinst restarted the running agent (pid $agent -> $(main_pid))" \
    || fail "upgrade: agent pid $agent -> $(main_pid), $(show ActiveState)"
readopted "$cursor" upgrade
same_pids upgrade "$pids"

# --- 5. the watchdog ----------------------------------------------------------------------------------
# Pings: systemd stamps WatchdogTimestamp at each WATCHDOG=1 (every 2.5 s here), and at a start: the same
# agent must still run.
agent=$(main_pid)
ping_before=$(show WatchdogTimestampMonotonic)
pinged() { [ "$(main_pid)" = "$agent" ] && [ "$(show WatchdogTimestampMonotonic)" -gt "$ping_before" ]; }
if wait_until 15 pinged && ! since "$first_cursor" | grep -qF "Watchdog timeout"; then
    pass "watchdog: systemd received WATCHDOG=1" \
        "(WatchdogTimestampMonotonic $ping_before -> $(show WatchdogTimestampMonotonic));" \
        "no watchdog timeout since the first start"
else
    fail "watchdog: no WATCHDOG=1 from agent $agent in 15 s (now pid $(main_pid)), or a timeout already:" \
        "$(since "$first_cursor" | grep -F 'Watchdog timeout')"
fi
# A running agent to freeze (never pid 0: `kill -STOP 0` would stop this script's own process group).
serving() { [ "$(show SubState)" = running ] && [ "$(main_pid)" -gt 1 ]; }
wait_until 30 serving || die "watchdog: no running agent to freeze ($(show SubState), pid $(main_pid))"
agent=$(main_pid)
cursor=$(mark)
ctr kill -STOP "$agent"
if wait_until 60 running_again "$agent"; then
    pass "watchdog: the frozen agent (pid $agent) was replaced by pid $(main_pid), NRestarts=$(show NRestarts)"
else
    fail "watchdog: 60 s after SIGSTOP the agent is still pid $(main_pid) ($(show SubState))"
    ctr kill -CONT "$agent"
fi
if since "$cursor" | grep -qF "Watchdog timeout (limit 5s)" && since "$cursor" | grep -qF "status=6/ABRT"; then
    pass "watchdog: journal has 'Watchdog timeout (limit 5s)' and 'status=6/ABRT'"
else
    fail "watchdog: journal lacks the timeout or the SIGABRT: $(since "$cursor" | grep -i -e watchdog -e status=)"
fi
readopted "$cursor" watchdog
same_pids watchdog "$pids"

# --- 6. remove and purge ------------------------------------------------------------------------------
wants=/etc/systemd/system/multi-user.target.wants/sled-agent.service
ctr systemctl enable sled-agent 2> /dev/null
ctr test -L "$wants" || fail "enable: no $wants"
ctr sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q sled-agent' > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; die "remove: apt-get remove failed"; }
if ! ctr pgrep -f 'sled-agent.jar serve' > /dev/null && [ "$(show LoadState)" = not-found ]; then
    pass "remove: prerm stopped the agent; postrm's daemon-reload dropped the unit (not-found)"
else
    fail "remove: agent pids '$(ctr pgrep -f 'sled-agent.jar serve' | tr '\n' ' ')', unit $(show LoadState)"
fi
same_pids remove "$pids"
if ctr test -f /etc/sled-agent/config.toml && ctr test -f /etc/default/sled-agent && ctr test -L "$wants" \
    && ctr test -f "/var/lib/sled-agent/vmms/$vmm.json" && ! ctr test -e /usr/share/sled-agent/sled-agent.jar; then
    pass "remove: the jar is gone; conffiles, the enablement link and the VMM's record are kept"
else
    fail "remove: files: $(ctr ls -d /etc/sled-agent/config.toml /etc/default/sled-agent "$wants" \
        "/var/lib/sled-agent/vmms/$vmm.json" /usr/share/sled-agent/sled-agent.jar 2>&1 | tr '\n' ' ')"
fi
ctr sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sled-agent' > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; die "purge: apt-get purge failed"; }
if ! ctr test -e /etc/sled-agent/config.toml && ! ctr test -e /etc/default/sled-agent && ! ctr test -L "$wants" \
    && ctr test -f "/var/lib/sled-agent/vmms/$vmm.json" \
    && [ -z "$(ctr dpkg-query -W -f '${db:Status-Status}' sled-agent 2> /dev/null)" ]
then
    pass "purge: conffiles and the enablement link are gone; /var/lib/sled-agent (the VMM's record) is kept"
else
    fail "purge: files: $(ctr ls -d /etc/sled-agent/config.toml /etc/default/sled-agent "$wants" \
        "/var/lib/sled-agent/vmms/$vmm.json" 2>&1 | tr '\n' ' ')"
fi
same_pids purge "$pids"

# --- 7. reinstall, re-adopt, stop the VMM ---------------------------------------------------------------
ctr sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/sled-agent.deb
    echo "SLED_AGENT_ARGS=--vmm sim" >> /etc/default/sled-agent' > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; die "reinstall: apt-get install failed"; }
cursor=$(mark)
ctr systemctl start sled-agent || die "reinstall: systemctl start failed"
readopted "$cursor" "reinstall after purge"
api -f -X PUT -d '{"state":{"type":"stopped"}}' "http://127.0.0.1:12345/vmms/$vmm/state" > /dev/null \
    || fail "cleanup: PUT /vmms/$vmm/state stopped failed"
vmm_gone() {
    ! ctr test -d "$zone" \
        && [ "$(api -o /dev/null -w '%{http_code}' "http://127.0.0.1:12345/vmms/$vmm/state")" = 404 ]
}
if wait_until 60 vmm_gone && ! ctr pgrep -f PropolisSimMain > /dev/null; then
    pass "vmm stopped through the API: its zone and processes are gone, GET /vmms/$vmm/state is 404"
else
    fail "vmm: still there 60 s after the stop request: state '$(vmm_state)', pids '$(vmm_pids)'"
fi
ctr systemctl stop sled-agent

# --- the end: power off -------------------------------------------------------------------------------
ctr_timeout_s=10 ctr systemctl poweroff || fail "poweroff: systemctl poweroff failed"
wait_until 30 eval '! kill -0 "$nspawn_pid" 2> /dev/null' || fail "poweroff: the container still runs after 30 s"
if wait "$nspawn_pid"; then
    pass "poweroff: the container stopped, systemd-nspawn exited 0"
else
    fail "poweroff: systemd-nspawn exited $?"
fi
nspawn_pid=
pid1=
# The container's cgroup tree (removed by cleanup) holds no zone and no process any more.
left=$(find "$v2/$machine" -name 'oxz_*' 2> /dev/null
    find "$v2/$machine" -name cgroup.procs -exec cat {} + 2> /dev/null)
[ -z "$left" ] && pass "poweroff: no zone cgroup and no process left in $v2/$machine" \
    || fail "poweroff: left in $v2/$machine: $left"
echo "systemd test: $((SECONDS - started)) s (container run, rootfs cached)"
[ $failures -eq 0 ] && echo "systemd test: all checks passed"
