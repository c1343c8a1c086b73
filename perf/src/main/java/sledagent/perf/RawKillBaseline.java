package sledagent.perf;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import sledagent.hypervisor.sim.PropolisSimLauncher;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.CgroupZoneBackend;

/**
 * The floor under any stop: {@link CgroupZoneBackend} used directly, no agent. A zone gets a process tree, then
 * {@code killAll} ({@code cgroup.kill}) and {@code awaitEmpty} ({@code populated 0}) are timed, and the
 * {@code rmdir} after it. Two trees: a real propolis-sim (the same JVM, flags and helper child the agent runs,
 * answering HTTP before the kill) and a plain shell tree ({@code sh -c 'sleep 1000 & sleep 1000 & wait'}).
 */
final class RawKillBaseline
{
    /** Which process tree goes into the zone. */
    enum Tree
    {
        SIM, SH
    }

    private static final Duration EMPTY_BOUND = Duration.ofSeconds(10);
    private static final long READY_BOUND_MS = 30_000;
    /**
     * Pause between "ready" and the kill. The kernel sends at most one {@code cgroup.events} notification per
     * cgroup file per 10 ms (later ones wait for a timer), so a kill right after the spawn's own
     * {@code populated 1} would be seen only at {@code awaitEmpty}'s 5 ms re-read; the agent's zones are
     * killed long after their spawn, and so are these.
     */
    private static final long SETTLE_MS = 200;

    private RawKillBaseline()
    {
    }

    /**
     * {@code count} kills of {@code tree} on a fresh zone root (removed afterwards by {@code cleanup}), recorded
     * as {@code <prefix>-kill-to-empty} and {@code <prefix>-kill-to-rmdir}.
     */
    static void run(final Cleanup cleanup, final Tree tree, final int count, final Path logDir,
        final Metrics metrics, final String prefix) throws Exception
    {
        final Path root = PerfZones.uniqueRoot("-raw-" + tree.name().toLowerCase());
        cleanup.push("remove raw zone root " + root, () -> PerfZones.removeRoot(root));
        final CgroupZoneBackend zones = new CgroupZoneBackend(root);
        cleanup.push("close raw zone backend", zones::close);
        for (int i = 0; i < count; i++)
        {
            final Zone zone = zones.create(ZoneBackend.ZONE_PREFIX + UUID.randomUUID());
            ZoneProcess process = null;
            try
            {
                final String addr = PerfAgent.freeAddr();
                final List<String> argv = tree == Tree.SIM
                    ? PropolisSimLauncher.command(addr)
                    : List.of("sh", "-c", "sleep 1000 & sleep 1000 & wait");
                process = zones.spawn(zone, argv, logDir.resolve(zone.name() + ".log"));
                awaitReady(tree, zone, addr, process);
                Thread.sleep(SETTLE_MS);
                final long t0 = System.nanoTime();
                zones.killAll(zone);
                final boolean empty = zones.awaitEmpty(zone, EMPTY_BOUND);
                final long t1 = System.nanoTime();
                if (!empty)
                {
                    throw new IllegalStateException("raw " + tree + ": zone " + zone.name() + " not empty "
                        + EMPTY_BOUND + " after the kill");
                }
                zones.destroy(zone);
                final long t2 = System.nanoTime();
                metrics.record(prefix + "-kill-to-empty", TimeUnit.NANOSECONDS.toMicros(t1 - t0));
                metrics.record(prefix + "-kill-to-rmdir", TimeUnit.NANOSECONDS.toMicros(t2 - t0));
            }
            finally
            {
                if (Files.isDirectory(zone.path()) && !zones.killAndRemove(zone, EMPTY_BOUND))
                {
                    System.err.println("cleanup: zone " + zone.path() + " not empty " + EMPTY_BOUND
                        + " after the kill");
                }
                if (process != null)
                {
                    process.close();
                }
            }
        }
    }

    /** Waits (bounded) until the tree is complete: the sim answers HTTP and has its helper; the shell its sleeps. */
    private static void awaitReady(final Tree tree, final Zone zone, final String addr, final ZoneProcess process)
        throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_BOUND_MS);
        // unshare + sh + 2 sleeps, or unshare + the sim JVM + its sleep helper.
        final int expected = tree == Tree.SIM ? 3 : 4;
        boolean answering = tree != Tree.SIM;
        while (true)
        {
            if (!process.isAlive())
            {
                throw new IllegalStateException("raw " + tree + " in " + zone.name() + " exited before it was ready");
            }
            if (!answering)
            {
                answering = answers(addr);
            }
            if (answering && PerfZones.pids(zone.path()).size() >= expected)
            {
                return;
            }
            if (System.nanoTime() - deadline >= 0)
            {
                throw new IllegalStateException("raw " + tree + " in " + zone.name() + " not ready within "
                    + READY_BOUND_MS + " ms (pids " + PerfZones.pids(zone.path()) + ")");
            }
            Thread.sleep(5);
        }
    }

    /** True if something answers HTTP at {@code addr} (any status). */
    private static boolean answers(final String addr)
    {
        final int colon = addr.lastIndexOf(':');
        final InetSocketAddress socket = new InetSocketAddress(addr.substring(0, colon),
            Integer.parseInt(addr.substring(colon + 1)));
        try (RawHttp http = new RawHttp(socket, 2_000))
        {
            http.request("GET", "/instance", null);
            return true;
        }
        catch (final IOException ex)
        {
            return false;
        }
    }
}
