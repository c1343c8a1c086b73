package sledagent.zones.illumos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import sledagent.zones.CommandRunner;
import sledagent.zones.linux.ProcStat;
import sledagent.zones.linux.ProcessSignals;

/**
 * Scripted stand-ins of illumos {@code zoneadm}, {@code zonecfg} and {@code zlogin}, written into
 * {@code <dir>/bin} and put first on the {@code PATH} of the backend's {@link CommandRunner} (the JVM's own
 * environment is never changed). Every call's argv is appended to {@code <dir>/state/calls.log}; each zone is a
 * directory {@code <dir>/state/zones/<name>/} holding its {@code state} and {@code path}, plus optional knobs:
 *
 * <ul>
 *   <li>{@code clear_after}: N; {@code zoneadm list} shows the zone's state N more times, then {@code installed}
 *       (a zone that leaves {@code shutting_down} by itself);</li>
 *   <li>{@code stuck}: {@code zoneadm halt} leaves the zone {@code shutting_down} and fails;</li>
 *   <li>{@code hang}: an operation ({@code halt}, {@code uninstall}, {@code delete}...) that sleeps
 *       {@value #HANG_SECONDS} s before doing anything;</li>
 *   <li>{@code fail}: an operation that fails (exit 1, a message on stderr).</li>
 * </ul>
 *
 * <p>{@code zlogin -S Z argv} records its pid in the zone's {@code pids} and becomes {@code setsid argv}; a halt
 * SIGKILLs those process groups, as a real halt kills the zone's processes.
 */
final class IllumosStandIns implements AutoCloseable
{
    /** How long a hanging stand-in sleeps; unusual, so a stray sleep can be found by its command line. */
    static final String HANG_SECONDS = "31.25";
    /** The calls.log line the recording {@link ZoneSignals} writes for a force kill. */
    static final String SIGSEND = "sigsend P_ZONEID %s SIGKILL";

    private static final String ZONEADM = """
        #!/bin/sh
        # Stand-in for illumos zoneadm(8): records each call and keeps each zone's state in files.
        D="$ZONESIM_DIR"
        echo "zoneadm $*" >> "$D/calls.log"
        if [ "$1" = list ]; then
            echo "0:global:running:/::ipkg:shared"
            for z in "$D"/zones/*; do
                [ -d "$z" ] || continue
                n=${z##*/}
                s=$(cat "$z/state")
                if [ -f "$z/clear_after" ]; then
                    c=$(cat "$z/clear_after")
                    if [ "$c" -le 0 ]; then
                        s=installed; echo installed > "$z/state"; rm -f "$z/clear_after"
                    else
                        echo $((c - 1)) > "$z/clear_after"
                    fi
                fi
                id=-
                case $s in running|ready|shutting_down|down) id=7 ;; esac
                echo "$id:$n:$s:$(cat "$z/path"):uuid-$n:omicron1:excl"
            done
            exit 0
        fi
        [ "$1" = -z ] || { echo "zoneadm: usage" >&2; exit 253; }
        n=$2; op=$3; z="$D/zones/$n"
        [ -d "$z" ] || { echo "zoneadm: $n: No such zone configured" >&2; exit 1; }
        if [ "$(cat "$z/hang" 2>/dev/null)" = "$op" ]; then sleep HANG; fi
        if [ "$(cat "$z/fail" 2>/dev/null)" = "$op" ]; then
            echo "zoneadm: zone '$n': $op failed (scripted)" >&2; exit 1
        fi
        s=$(cat "$z/state")
        bad() { echo "zoneadm: zone '$n': cannot $op a zone that is $s" >&2; exit 1; }
        case $op in
            install) [ "$s" = configured ] || bad; echo installed > "$z/state" ;;
            boot) case $s in installed|ready) echo running > "$z/state" ;; *) bad ;; esac ;;
            halt)
                case $s in running|ready|shutting_down|down) ;; *) bad ;; esac
                # Leave "running" before reading pids: a zlogin that registers later sees it and gives up.
                echo shutting_down > "$z/state"
                for p in $(cat "$z/pids" 2>/dev/null); do kill -9 -"$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
                rm -f "$z/pids"
                if [ -f "$z/stuck" ]; then
                    echo shutting_down > "$z/state"
                    echo "zoneadm: zone '$n': unable to halt: a process is stuck" >&2; exit 1
                fi
                echo installed > "$z/state" ;;
            uninstall) case $s in installed|incomplete) echo configured > "$z/state" ;; *) bad ;; esac ;;
            *) echo "zoneadm: $op: not simulated" >&2; exit 253 ;;
        esac
        """.replace("HANG", HANG_SECONDS);

    private static final String ZONECFG = """
        #!/bin/sh
        # Stand-in for illumos zonecfg(8): create (one ';'-separated script argument) and delete -F.
        D="$ZONESIM_DIR"
        echo "zonecfg $*" >> "$D/calls.log"
        [ "$1" = -z ] || { echo "zonecfg: usage" >&2; exit 253; }
        n=$2; z="$D/zones/$n"; cmd=$3; op=${cmd%% *}
        if [ "$(cat "$z/hang" 2>/dev/null)" = "$op" ]; then sleep HANG; fi
        if [ "$(cat "$z/fail" 2>/dev/null)" = "$op" ]; then echo "zonecfg: $n: $op failed (scripted)" >&2; exit 1; fi
        case $op in
            create)
                [ -d "$z" ] && { echo "zonecfg: $n: already exists" >&2; exit 1; }
                mkdir -p "$z"; echo configured > "$z/state"
                p=${cmd#*zonepath=}; p=${p%%;*}; echo "$p" > "$z/path" ;;
            delete)
                [ -d "$z" ] || { echo "zonecfg: $n: No such zone configured" >&2; exit 1; }
                s=$(cat "$z/state")
                [ "$s" = configured ] || { echo "zonecfg: $n: zone is $s; it must be configured" >&2; exit 1; }
                rm -rf "$z" ;;
            *) echo "zonecfg: $op: not simulated" >&2; exit 253 ;;
        esac
        """.replace("HANG", HANG_SECONDS);

    private static final String ZLOGIN = """
        #!/bin/sh
        # Stand-in for illumos zlogin(1): runs argv "in" a running zone, in a process group a halt kills.
        D="$ZONESIM_DIR"
        echo "zlogin $*" >> "$D/calls.log"
        [ "$1" = -S ] && shift
        n=$1; shift; z="$D/zones/$n"
        [ "$(cat "$z/state" 2>/dev/null)" = running ] || { echo "zlogin: zone '$n' is not running" >&2; exit 1; }
        echo $$ >> "$z/pids"
        # Checked again after registering, so a halt racing with this start either kills us or stops us here.
        [ "$(cat "$z/state" 2>/dev/null)" = running ] || { echo "zlogin: zone '$n' is halting" >&2; exit 1; }
        exec setsid "$@"
        """;

    private final Path bin;
    private final Path state;

    /** Writes the stand-ins under {@code dir}. */
    IllumosStandIns(final Path dir) throws IOException
    {
        bin = Files.createDirectories(dir.resolve("bin"));
        state = Files.createDirectories(dir.resolve("state"));
        Files.createDirectories(state.resolve("zones"));
        Files.writeString(state.resolve("calls.log"), "");
        script("zoneadm", ZONEADM);
        script("zonecfg", ZONECFG);
        script("zlogin", ZLOGIN);
    }

    /** The environment of the backend's commands: stand-ins first on PATH, and where they keep state. */
    Map<String, String> environment()
    {
        return Map.of("PATH", bin + ":/usr/bin:/bin", "ZONESIM_DIR", state.toString(), "LC_ALL", "C");
    }

    /** Settings with short deadlines and polls: 2 s per command, 300 ms stuck bound, 10..40 ms polls. */
    static IllumosZoneBackend.Settings settings(final Duration commandDeadline)
    {
        return new IllumosZoneBackend.Settings(Path.of("/zone"), "omicron1", List.of(), commandDeadline,
            commandDeadline, Duration.ofMillis(300), Duration.ofMillis(10), Duration.ofMillis(40));
    }

    /** A backend on these stand-ins whose force kill is recorded in calls.log. */
    IllumosZoneBackend backend(final Duration commandDeadline)
    {
        return new IllumosZoneBackend(new CommandRunner(environment()), settings(commandDeadline), zone ->
        {
            record(String.format(SIGSEND, zone));
            return true;
        });
    }

    /** Adds a zone in {@code zoneState} with zonepath {@code /zone/<name>}. */
    void addZone(final String name, final String zoneState) throws IOException
    {
        final Path zone = Files.createDirectories(zoneDir(name));
        Files.writeString(zone.resolve("state"), zoneState + "\n");
        Files.writeString(zone.resolve("path"), "/zone/" + name + "\n");
    }

    /** The zone leaves its state for {@code installed} after {@code polls} more listings. */
    void clearAfterPolls(final String name, final int polls) throws IOException
    {
        Files.writeString(zoneDir(name).resolve("clear_after"), polls + "\n");
    }

    /** The zone never leaves {@code shutting_down}: a halt fails and leaves it there. */
    void stuck(final String name) throws IOException
    {
        Files.writeString(zoneDir(name).resolve("stuck"), "");
    }

    /** The operation ({@code halt}, {@code uninstall}, {@code delete}...) on this zone hangs. */
    void hangOn(final String name, final String operation) throws IOException
    {
        Files.writeString(zoneDir(name).resolve("hang"), operation + "\n");
    }

    /** The operation on this zone fails. */
    void failOn(final String name, final String operation) throws IOException
    {
        Files.writeString(zoneDir(name).resolve("fail"), operation + "\n");
    }

    /** The zone's state, or null if it does not exist. */
    String state(final String name) throws IOException
    {
        final Path file = zoneDir(name).resolve("state");
        return Files.exists(file) ? Files.readString(file).strip() : null;
    }

    /** Every call so far, one line each: the argv joined by spaces. */
    List<String> calls() throws IOException
    {
        return Files.readAllLines(state.resolve("calls.log"));
    }

    /** Forgets the calls so far (after setting a test up). */
    void clearCalls() throws IOException
    {
        Files.writeString(state.resolve("calls.log"), "");
    }

    /** Appends a line to calls.log (for calls made without a stand-in, like the force kill). */
    void record(final String line)
    {
        try
        {
            Files.writeString(state.resolve("calls.log"), line + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.APPEND);
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    /** SIGKILLs every process group a {@code zlogin} stand-in started that is still led by that process. */
    @Override
    public void close() throws IOException
    {
        final List<Path> zones = new ArrayList<>();
        try (var dirs = Files.list(state.resolve("zones")))
        {
            dirs.forEach(zones::add);
        }
        for (final Path zone : zones)
        {
            final Path pids = zone.resolve("pids");
            if (!Files.exists(pids))
            {
                continue;
            }
            for (final String line : Files.readAllLines(pids))
            {
                final long pid = Long.parseLong(line.strip());
                if (ProcStat.read(pid).filter(stat -> stat.pgrp() == pid && !stat.isZombie()).isPresent())
                {
                    ProcessSignals.killGroup(pid);
                }
            }
        }
    }

    private Path zoneDir(final String name)
    {
        return state.resolve("zones").resolve(name);
    }

    private void script(final String name, final String text) throws IOException
    {
        final Path file = bin.resolve(name);
        Files.writeString(file, text);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
