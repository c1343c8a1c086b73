#!/usr/bin/env bash
# Tests what build-packages.sh built, the way a host would see it:
#   1. the .deb: control fields, conffiles, ownership and modes; unpacked with `dpkg-deb -x` into a
#      temporary root, where the installed launcher must print `sled-agent <version>`;
#   2. the tarball: the same files, and its launcher runs too;
#   3. the launcher's Java version detection, against fake runtimes (17, 21, 24, 25, 1.8, no
#      release file, java found through a PATH symlink);
#   4. the systemd unit: `systemd-analyze verify` (offline, --root = the unpacked .deb, so
#      ExecStart's /usr/bin/sled-agent is the installed launcher) with no warning about the
#      unit, plus the values systemd's own parser read for the settings that matter;
#   5. the SMF manifest: well-formed (xmllint), valid against the DTD where it exists, and its key
#      settings; the default config parses as TOML with the expected keys.
# Run by Maven in the packaging module's integration-test phase (skipped with -DskipTests):
#   test-packages.sh <version> <out dir> <agent jar>
# A missing tool (dpkg-deb, systemd-analyze, xmllint, python3) skips its checks with a message,
# unless SLED_AGENT_REQUIRE_TOOLS=1, which makes it a failure.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 <version> <out dir> <agent jar>" >&2
    exit 2
fi
version=$1
out=$2
jar=$3
here=$(cd "$(dirname "$0")/.." && pwd)    # packaging/

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }
skip() {
    if [ "${SLED_AGENT_REQUIRE_TOOLS:-0}" = 1 ]; then
        fail "$* (SLED_AGENT_REQUIRE_TOOLS=1)"
    else
        echo "SKIP: $*"
    fi
}
have() { command -v "$1" > /dev/null 2>&1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sled-agent-pkgtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The installed tree (paths relative to /) and the mode each file must have.
expected="
usr/share/sled-agent/sled-agent.jar 644
usr/bin/sled-agent 755
lib/systemd/system/sled-agent.service 644
etc/sled-agent/config.toml 644
etc/default/sled-agent 644
usr/share/doc/sled-agent/README.md 644
usr/share/sled-agent/smf/sled-agent.xml 644
"

# check_tree <root> <label>: the expected files, modes and contents; the launcher prints the version.
check_tree() {
    local root=$1 label=$2 path mode actual output
    while read -r path mode; do
        [ -n "$path" ] || continue
        if [ ! -f "$root/$path" ]; then
            fail "$label: /$path missing"
            continue
        fi
        actual=$(stat -c %a "$root/$path")
        [ "$actual" = "$mode" ] || fail "$label: /$path has mode $actual, expected $mode"
    done <<< "$expected"
    cmp -s "$jar" "$root/usr/share/sled-agent/sled-agent.jar" \
        || fail "$label: the installed jar differs from $jar"
    cmp -s "$here/systemd/sled-agent.service" "$root/lib/systemd/system/sled-agent.service" \
        || fail "$label: the installed unit differs from systemd/sled-agent.service"
    cmp -s "$here/config/config.toml" "$root/etc/sled-agent/config.toml" \
        || fail "$label: the installed config differs from config/config.toml"
    if output=$(SLED_AGENT_JAR="$root/usr/share/sled-agent/sled-agent.jar" "$root/usr/bin/sled-agent" --version 2>&1) \
        && [ "$output" = "sled-agent $version" ]; then
        pass "$label: /usr/bin/sled-agent --version prints '$output'"
    else
        fail "$label: /usr/bin/sled-agent --version printed '$output', expected 'sled-agent $version'"
    fi
    if have dash; then
        output=$(SLED_AGENT_JAR="$root/usr/share/sled-agent/sled-agent.jar" dash "$root/usr/bin/sled-agent" --version 2>&1) || true
        [ "$output" = "sled-agent $version" ] && pass "$label: the launcher runs under dash (POSIX sh)" \
            || fail "$label: under dash the launcher printed '$output'"
    fi
    # File list of the tree, for comparing the .deb with the tarball.
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sort) > "$tmp/files-$label"
}

# --- 1. the .deb ---------------------------------------------------------------------------------
debversion=${version/-SNAPSHOT/~snapshot}
deb=$out/sled-agent_${debversion}_all.deb
debroot=$tmp/deb-root
if ! have dpkg-deb; then
    skip ".deb checks: dpkg-deb is not installed"
elif [ ! -f "$deb" ]; then
    fail "$deb was not built"
else
    echo "--- $deb ($(stat -c %s "$deb") bytes)"
    field() { dpkg-deb -f "$deb" "$1"; }
    [ "$(field Package)" = sled-agent ] && [ "$(field Version)" = "$debversion" ] \
        && [ "$(field Architecture)" = all ] && pass "deb: Package sled-agent, Version $debversion, Architecture all" \
        || fail "deb: control fields: $(field Package) $(field Version) $(field Architecture)"
    depends=$(field Depends)
    [ "$depends" = "default-jre-headless (>= 2:1.17) | java17-runtime-headless, util-linux" ] \
        && pass "deb: Depends: $depends" || fail "deb: Depends is '$depends'"
    # The packaged config runs real VMs (vmm = "qemu", bootrom OVMF): QEMU and OVMF are recommended, not required
    # (serve refuses to start without them, naming what is missing).
    [ "$(field Recommends)" = "qemu-system-x86, ovmf" ] \
        && pass "deb: Recommends: qemu-system-x86, ovmf" || fail "deb: Recommends is '$(field Recommends)'"
    dpkg-deb -e "$deb" "$tmp/control"
    printf '/etc/sled-agent/config.toml\n/etc/default/sled-agent\n' | cmp -s - "$tmp/control/conffiles" \
        && pass "deb: conffiles are /etc/sled-agent/config.toml and /etc/default/sled-agent" \
        || fail "deb: conffiles: $(tr '\n' ' ' < "$tmp/control/conffiles")"
    for script in postinst prerm postrm; do
        if [ -x "$tmp/control/$script" ] && sh -n "$tmp/control/$script"; then
            pass "deb: $script is executable and parses"
        else
            fail "deb: $script missing, not executable, or not valid sh"
        fi
    done
    owners=$(dpkg-deb -c "$deb" | awk '{print $2}' | sort -u)
    [ "$owners" = root/root ] && pass "deb: every file is owned by root/root" || fail "deb: owners: $owners"
    mkdir -p "$debroot"
    dpkg-deb -x "$deb" "$debroot"
    check_tree "$debroot" deb
fi

# --- 2. the tarball ------------------------------------------------------------------------------
tarball=$out/sled-agent-$version.tar.gz
if [ ! -f "$tarball" ]; then
    fail "$tarball was not built"
else
    echo "--- $tarball ($(stat -c %s "$tarball") bytes)"
    tops=$(tar -tzf "$tarball" | cut -d/ -f1 | sort -u)
    [ "$tops" = "sled-agent-$version" ] && pass "tarball: everything is under sled-agent-$version/" \
        || fail "tarball: top-level entries: $tops"
    mkdir -p "$tmp/tar-root"
    tar -xzf "$tarball" -C "$tmp/tar-root"
    check_tree "$tmp/tar-root/sled-agent-$version" tarball
    if [ -f "$tmp/files-deb" ]; then
        diff -u "$tmp/files-deb" "$tmp/files-tarball" > /dev/null \
            && pass "tarball: the same files as the .deb" \
            || fail "tarball and .deb differ: $(diff "$tmp/files-deb" "$tmp/files-tarball" | tr '\n' ' ')"
    fi
fi

# --- 3. the launcher's Java version detection ----------------------------------------------------
# fake_jdk <dir> <JAVA_VERSION or ""> [<what `java -version` prints>]: bin/java prints its arguments.
fake_jdk() {
    mkdir -p "$1/bin"
    [ -z "$2" ] || printf 'IMPLEMENTOR="Test"\nJAVA_VERSION="%s"\n' "$2" > "$1/release"
    cat > "$1/bin/java" <<EOF
#!/bin/sh
if [ "\$1" = -version ]; then echo '${3:-none}' >&2; exit 0; fi
echo "\$@"
EOF
    chmod 755 "$1/bin/java"
}
launcher=$here/bin/sled-agent
# expect_flags <label> <yes|no> <args>: whether the JDK 24+ flags were passed.
expect_flags() {
    local label=$1 want=$2 args
    args=$3
    case $args in
        "--sun-misc-unsafe-memory-access=allow --enable-native-access=ALL-UNNAMED -jar /x.jar serve --listen a:1")
            got=yes ;;
        "-jar /x.jar serve --listen a:1") got=no ;;
        *) fail "launcher ($label): java got '$args'"; return ;;
    esac
    [ "$got" = "$want" ] && pass "launcher ($label): JDK 24+ flags: $got" \
        || fail "launcher ($label): JDK 24+ flags: $got, expected $want ('$args')"
}
for case in "17.0.15 no" "21 no" "23.0.2 no" "24 yes" "24.0.1 yes" "25.0.1 yes" "1.8.0_392 no"; do
    set -- $case
    fake_jdk "$tmp/jdk-$1" "$1"
    expect_flags "release $1" "$2" "$(JAVA_HOME=$tmp/jdk-$1 SLED_AGENT_JAR=/x.jar sh "$launcher" serve --listen a:1)"
done
fake_jdk "$tmp/jdk-norelease" "" 'openjdk version "26-ea" 2026-03-17'
expect_flags "no release file, java -version 26-ea" yes \
    "$(JAVA_HOME=$tmp/jdk-norelease SLED_AGENT_JAR=/x.jar sh "$launcher" serve --listen a:1)"
fake_jdk "$tmp/jdk-path" "25"
mkdir -p "$tmp/pathbin" && ln -s "$tmp/jdk-path/bin/java" "$tmp/pathbin/java"
expect_flags "java on PATH, a symlink into a 25 runtime" yes \
    "$(env -u JAVA_HOME PATH="$tmp/pathbin:/usr/bin:/bin" SLED_AGENT_JAR=/x.jar sh "$launcher" serve --listen a:1)"
args=$(JAVA_HOME=$tmp/jdk-17.0.15 SLED_AGENT_JAR=/x.jar SLED_AGENT_JAVA_OPTS="-Xmx1g -Dx=*" sh "$launcher" --version)
[ "$args" = "-Xmx1g -Dx=* -jar /x.jar --version" ] && pass "launcher: SLED_AGENT_JAVA_OPTS go before -jar, unglobbed" \
    || fail "launcher: SLED_AGENT_JAVA_OPTS: java got '$args'"
if JAVA_HOME=$tmp/none sh "$launcher" --version > /dev/null 2>&1; then
    fail "launcher: a JAVA_HOME without bin/java should fail"
else
    pass "launcher: a JAVA_HOME without bin/java fails with a message"
fi

# --- 4. the systemd unit -------------------------------------------------------------------------
unit=sled-agent.service
if ! have systemd-analyze; then
    skip "systemd-analyze verify: systemd-analyze is not installed (apt-get install systemd)"
elif [ ! -x "$debroot/usr/bin/sled-agent" ]; then
    skip "systemd-analyze verify: no unpacked .deb to use as the root"
else
    # Offline: no running systemd is needed. --root is the unpacked .deb plus the host's own units
    # (sysinit.target, network-online.target, ... which the unit's dependencies name).
    vroot=$tmp/verify-root
    cp -a "$debroot" "$vroot"
    for dir in /lib/systemd/system /usr/lib/systemd/system; do
        [ -d "$dir" ] && cp -an "$dir/." "$vroot/lib/systemd/system/" 2> /dev/null || true
    done
    # verify exits 0 on unknown keys and bad values (it only logs them): any message naming the
    # unit is a failure.
    analyze() { systemd-analyze verify --man=no --root="$vroot" "$1"; }
    set +e
    messages=$(analyze "$unit" 2>&1)
    status=$?
    set -e
    ours=$(grep -F sled-agent <<< "$messages" || true)
    if [ $status -eq 0 ] && [ -z "$ours" ]; then
        pass "systemd-analyze verify $unit (systemd $(systemd-analyze --version | awk 'NR==1{print $2}')): no errors, no warnings"
    else
        fail "systemd-analyze verify $unit (exit $status): $messages"
    fi
    other=$(grep -vF sled-agent <<< "$messages" || true)
    [ -z "$other" ] || echo "note: systemd-analyze said about other units: $other"
    # Negative control: the same check must catch a bad key and a bad value on this systemd.
    sed -e 's/^KillMode=process/KillMode=processes/' -e 's/^Delegate=yes/Delegate=yes\nDelegat=yes/' \
        "$here/systemd/$unit" > "$vroot/lib/systemd/system/sled-agent-broken.service"
    broken=$(analyze sled-agent-broken.service 2>&1 || true)
    if grep -q "KillMode\|kill mode" <<< "$broken" && grep -q "Delegat" <<< "$broken"; then
        pass "systemd-analyze verify reports a misspelt key and a bad value (negative control)"
    else
        fail "systemd-analyze verify did not report a broken copy of the unit: $broken"
    fi
    # What systemd's parser made of the settings (the debug log dumps the loaded unit).
    dump=$(SYSTEMD_LOG_LEVEL=debug systemd-analyze verify --man=no --root="$vroot" "$unit" 2> /dev/null || true)
    if grep -q "Type: " <<< "$dump"; then
        before=$failures
        for want in "Type: notify" "NotifyAccess: main" "WatchdogSec: 30s" "Delegate: yes" "KillMode: process" \
            "Restart: on-failure" "OOMPolicy: continue" "ProtectControlGroups: no" "StateDirectory: sled-agent" \
            "EnvironmentFile: -/etc/default/sled-agent" \
            "Command Line: /usr/bin/sled-agent serve --config /etc/sled-agent/config.toml"; do
            grep -qF "$want" <<< "$dump" || fail "unit as systemd parsed it: no '$want'"
        done
        [ $failures -ne $before ] || pass "unit as systemd parsed it: Type=notify, NotifyAccess=main, WatchdogSec=30s, Delegate=yes," \
            "KillMode=process, Restart=on-failure, OOMPolicy=continue, ExecStart with --config"
    else
        echo "note: this systemd-analyze does not dump the parsed unit; parsed-value checks skipped"
    fi
    exposure=$(systemd-analyze security --offline=true --root="$vroot" "$unit" 2> /dev/null \
        | sed -n 's/.*Overall exposure level for [^:]*: *//p' || true)
    [ -z "$exposure" ] || echo "info: systemd-analyze security --offline: exposure $exposure"
fi

# --- 5. the SMF manifest and the default config --------------------------------------------------
manifest=$here/smf/sled-agent.xml
if ! have xmllint; then
    skip "SMF manifest: xmllint is not installed (apt-get install libxml2-utils)"
else
    if xmllint --noout "$manifest"; then
        pass "smf/sled-agent.xml is well-formed XML"
    else
        fail "smf/sled-agent.xml is not well-formed"
    fi
    dtd=/usr/share/lib/xml/dtd/service_bundle.dtd.1
    if [ -f "$dtd" ]; then
        xmllint --noout --valid "$manifest" && pass "smf/sled-agent.xml is valid against $dtd" \
            || fail "smf/sled-agent.xml does not validate against $dtd"
    else
        echo "note: $dtd not on this host (illumos only): SMF manifest checked for well-formedness, not DTD validity"
    fi
    xpath() { xmllint --xpath "string($1)" "$manifest" 2> /dev/null || true; }
    check_xpath() {
        local got
        got=$(xpath "$1")
        [ "$got" = "$2" ] || fail "smf: $1 is '$got', expected '$2'"
    }
    before=$failures
    check_xpath "/service_bundle/service/@name" "site/sled-agent"
    check_xpath "//exec_method[@name='start']/@exec" "/usr/bin/sled-agent serve --config %{config/file} %{config/args} &"
    check_xpath "//property_group[@name='config']/propval[@name='file']/@value" "/etc/sled-agent/config.toml"
    check_xpath "//property_group[@name='startd']/propval[@name='duration']/@value" "contract"
    check_xpath "//property_group[@name='startd']/propval[@name='ignore_error']/@value" "core,signal"
    check_xpath "//dependency[@name='network']/service_fmri/@value" "svc:/milestone/network:default"
    [ $failures -ne $before ] || pass "smf: site/sled-agent, start method, config/file, duration=contract, ignore_error=core,signal, network dependency"
fi
if ! have python3 || ! python3 -c 'import tomllib' 2> /dev/null; then
    skip "config.toml: no python3 with tomllib to parse it"
else
    # Keys that are commented out (no default value) must still be documented in the file.
    if python3 - "$here/config/config.toml" <<'EOF'
import re, sys, tomllib
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
config = tomllib.loads(text)
want = {"listen": str, "nexus_urls": list, "state_dir": str, "stop_grace": str, "start_timeout": str,
        "log_format": str}
bad = [k for k, t in want.items() if not isinstance(config.get(k), t)]
documented = [k for k in ("zone_root", "sled_id") if re.search(r"^# ?%s = " % k, text, re.M)]
# Every other key is the agent's to judge: `config check` below refuses an unknown one.
if bad or len(documented) != 2:
    sys.exit("bad: %s, undocumented: %s" % (bad, {"zone_root", "sled_id"} - set(documented)))
EOF
    then
        pass "config.toml parses; listen, nexus_urls, state_dir, stop_grace, start_timeout, log_format set;" \
            "zone_root, sled_id documented"
    else
        fail "config/config.toml"
    fi
fi
# The agent itself accepts the packaged config (unknown keys and bad values are its errors).
if output=$(java -jar "$jar" config check "$here/config/config.toml" 2>&1); then
    pass "sled-agent config check accepts config/config.toml"
else
    fail "sled-agent config check refuses config/config.toml: $output"
fi

if [ $failures -ne 0 ]; then
    echo "PACKAGE TEST FAILED: $failures failure(s)" >&2
    exit 1
fi
echo "package test: all checks passed"
