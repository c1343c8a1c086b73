package sledagent.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.HdrHistogram.Histogram;
import sledagent.api.VmmState;
import sledagent.hypervisor.PropolisClient;

/**
 * {@code POST /vmms/{id}/force-terminate} of running sims, one at a time, against the raw kill-to-empty floor
 * measured in the same run with {@link RawKillBaseline}.
 *
 * <p>Per VMM, from the moment the request is written: the HTTP answer (the agent answers once the zone is empty
 * and removed), the zone directory gone (inotify), Nexus having received {@code destroyed} (the recording Nexus's
 * arrival time). The agent's own {@code "torn down in N us"} line splits the answer into the teardown (start-job
 * cancel, last look at Propolis, kill, wait for empty, rmdir) and the rest (HTTP in, actor, pool hand-offs, reply).
 */
final class ForceTerminateScenario
{
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static final int WARM_GETS = 3;

    private ForceTerminateScenario()
    {
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup, final LogCapture logs)
        throws Exception
    {
        final Metrics metrics = new Metrics("force-terminate");
        metrics.define("http-answer", "request written -> 200 destroyed read (zone empty and removed)");
        metrics.define("zone-gone", "request written -> zone cgroup directory removed (inotify)");
        metrics.define("nexus-destroyed", "request written -> Nexus received destroyed");
        metrics.define("agent-teardown", "ZoneTeardown.run as the agent logs it (last look, kill, empty, rmdir)");
        metrics.define("request-to-actor", "request written -> the actor handles it (its first record write begins)");
        metrics.define("before-teardown", "request written -> teardown began (HTTP in, actor, pool hand-off)");
        metrics.define("teardown-to-kill", "teardown began -> cgroup.kill write began (start-job cancel, last look)");
        metrics.define("kill-write", "the agent's killAll call (write of cgroup.kill)");
        metrics.define("kill-to-empty", "the agent's killAll began -> its awaitEmpty returned true");
        metrics.define("empty-to-rmdir", "awaitEmpty returned -> rmdir done");
        metrics.define("rmdir-to-answer", "rmdir done -> answer read (teardown end, actor, reply, HTTP out)");
        metrics.define("rmdir-to-nexus", "rmdir done -> Nexus received destroyed (actor, publish, HTTP)");
        metrics.define("store-writes",
            "record writes (VmmStore save/delete, queued by the actor -> acknowledged after their sync), "
                + "request -> answer, summed");
        metrics.define("store-write", "one record write of those, each");
        metrics.define("get-state-rtt", "GET /state round trip, 3rd on the same connection (HTTP floor)");
        metrics.define("probe-last-look",
            "PropolisClient.monitor(addr, 0) to the sim from this JVM, just before the force");
        metrics.define("raw-sim-kill-to-empty", "CgroupZoneBackend: killAll -> awaitEmpty true, sim tree");
        metrics.define("raw-sim-kill-to-rmdir", "CgroupZoneBackend: killAll -> destroy done, sim tree");
        metrics.define("raw-sh-kill-to-empty", "CgroupZoneBackend: killAll -> awaitEmpty true, sh + 2 sleeps");
        metrics.define("raw-sh-kill-to-rmdir", "CgroupZoneBackend: killAll -> destroy done, sh + 2 sleeps");
        metrics.csvColumns("i", "propolis_id", "http_answer_us", "zone_gone_us", "nexus_destroyed_us",
            "agent_teardown_us", "before_teardown_us", "kill_start_us", "kill_end_us", "empty_us", "rmdir_us",
            "get_state_rtt_us", "probe_last_look_us", "store_writes_us", "store_write_count");

        final PerfAgent perf = PerfAgent.start(cleanup, options.startTimeoutMs);
        System.out.printf("agent on %s, zones under %s%n", perf.address, perf.zoneRoot);
        final PropolisClient propolis = new PropolisClient(Duration.ofSeconds(2));
        cleanup.push("close propolis client", propolis::close);
        final ZoneDirWatch watch = new ZoneDirWatch(perf.zoneRoot);
        cleanup.push("close zone watch", watch::close);
        final int total = options.vmms + options.warmup;
        final List<PerfAgent.Vmm> vmms = perf.startVmms(total, options.batch,
            Duration.ofMillis(options.startTimeoutMs));
        Thread.sleep(options.settleMs);

        System.out.printf("force-terminating %d VMMs one at a time (%d warm-up, not recorded)%n", total,
            options.warmup);
        for (int i = 0; i < vmms.size(); i++)
        {
            final PerfAgent.Vmm vmm = vmms.get(i);
            final String id = vmm.id().toString();
            final boolean recorded = i >= options.warmup;
            final long getStateUs;
            final long probeUs = options.probeLastLook ? probeLastLook(propolis, vmm.addr()) : -1;
            final long answerNs;
            final long t0;
            final Instant wall0;
            try (RawHttp http = perf.connect())
            {
                // Warms the connection (the first request on a new connection costs more), then gives the HTTP
                // floor on it: the last of a few GET /state round trips.
                long g0 = 0;
                RawHttp.Answer state = null;
                for (int k = 0; k < WARM_GETS; k++)
                {
                    g0 = System.nanoTime();
                    state = http.request("GET", "/vmms/" + id + "/state", null);
                }
                getStateUs = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - g0);
                if (state.status() != 200 || !state.body().contains("\"running\""))
                {
                    throw new IllegalStateException("vmm " + id + " is not running before the force: " + state);
                }
                wall0 = Instant.now();
                t0 = System.nanoTime();
                final RawHttp.Answer answer = http.request("POST", "/vmms/" + id + "/force-terminate", null);
                answerNs = System.nanoTime();
                if (answer.status() != 200 || !answer.body().contains("\"destroyed\""))
                {
                    throw new IllegalStateException("force-terminate " + id + ": " + answer);
                }
            }
            final long goneNs = watch.awaitDeleted(PerfAgent.zoneName(vmm.id()), BOUND.toMillis());
            if (goneNs < 0)
            {
                throw new IllegalStateException("zone of " + id + " not seen removed within " + BOUND
                    + (watch.overflowed() ? " (inotify queue overflowed)" : ""));
            }
            final Optional<Instant> nexusAt = perf.awaitPublished(vmm.id(), VmmState.DESTROYED, BOUND);
            if (nexusAt.isEmpty())
            {
                throw new IllegalStateException("Nexus did not receive destroyed for " + id + " within " + BOUND);
            }
            if (!perf.awaitRemoved(vmm.id(), BOUND))
            {
                throw new IllegalStateException("vmm " + id + " still in the agent's table " + BOUND + " after");
            }
            final long httpUs = TimeUnit.NANOSECONDS.toMicros(answerNs - t0);
            final long goneUs = TimeUnit.NANOSECONDS.toMicros(goneNs - t0);
            final long nexusUs = micros(wall0, nexusAt.get());
            final Optional<LogCapture.Teardown> teardown = logs.tornDown(id);
            final long teardownUs = teardown.map(LogCapture.Teardown::tookMicros).orElse(-1L);
            final long beforeUs = teardown.map(t -> micros(wall0, t.startedAt())).orElse(-1L);
            // Moments on the teardown's thread, as microseconds after the request was written (-1: not seen).
            final Optional<TimedZones.Times> times = perf.timedZones.times(PerfAgent.zoneName(vmm.id()));
            final long killStartUs = times.map(t -> since(t0, t.killStartNs)).orElse(-1L);
            final long killEndUs = times.map(t -> since(t0, t.killEndNs)).orElse(-1L);
            final long emptyUs = times.map(t -> since(t0, t.emptyNs)).orElse(-1L);
            final long rmdirUs = times.map(t -> since(t0, t.destroyEndNs)).orElse(-1L);
            // Record writes the actor made between the request and the answer (each holds the actor's thread).
            final List<TimedStore.Write> writes = perf.timedStore.writesSince(vmm.id(), t0).stream()
                .filter(w -> w.endNs() - answerNs <= 0).toList();
            final long writesUs = writes.stream().mapToLong(w -> TimeUnit.NANOSECONDS.toMicros(w.endNs() - w.startNs()))
                .sum();
            if (recorded)
            {
                metrics.record("store-writes", writesUs);
                for (final TimedStore.Write write : writes)
                {
                    metrics.record("store-write", TimeUnit.NANOSECONDS.toMicros(write.endNs() - write.startNs()));
                }
                if (!writes.isEmpty())
                {
                    metrics.record("request-to-actor", since(t0, writes.get(0).startNs()));
                }
                metrics.record("http-answer", httpUs);
                metrics.record("zone-gone", goneUs);
                metrics.record("nexus-destroyed", nexusUs);
                metrics.record("get-state-rtt", getStateUs);
                if (probeUs >= 0)
                {
                    metrics.record("probe-last-look", probeUs);
                }
                if (teardown.isPresent())
                {
                    metrics.record("agent-teardown", teardownUs);
                    metrics.record("before-teardown", beforeUs);
                    if (killStartUs >= 0)
                    {
                        metrics.record("teardown-to-kill", killStartUs - beforeUs);
                    }
                }
                if (killStartUs >= 0 && killEndUs >= 0 && emptyUs >= 0 && rmdirUs >= 0)
                {
                    metrics.record("kill-write", killEndUs - killStartUs);
                    metrics.record("kill-to-empty", emptyUs - killStartUs);
                    metrics.record("empty-to-rmdir", rmdirUs - emptyUs);
                    metrics.record("rmdir-to-answer", httpUs - rmdirUs);
                    metrics.record("rmdir-to-nexus", nexusUs - rmdirUs);
                }
            }
            metrics.csvRow(i, id, httpUs, goneUs, nexusUs, teardownUs, beforeUs, killStartUs, killEndUs, emptyUs,
                rmdirUs, getStateUs, probeUs, writesUs, writes.size());
            System.out.printf(Locale.ROOT,
                "  %2d %s answer %8.3f ms, zone gone %8.3f ms, nexus %8.3f ms, teardown %8.3f ms,"
                + " record writes %d in %.3f ms%s%n", i, id, httpUs / 1000.0, goneUs / 1000.0, nexusUs / 1000.0,
                teardownUs / 1000.0, writes.size(), writesUs / 1000.0, recorded ? "" : " (warm-up)");
            Thread.sleep(options.pauseMs);
        }

        final Path rawLogs = perf.stateDir.resolve("raw-logs");
        System.out.printf("raw baseline: %d sims, then %d shell trees, killed with CgroupZoneBackend directly%n",
            options.vmms, options.vmms);
        RawKillBaseline.run(cleanup, RawKillBaseline.Tree.SIM, options.vmms, rawLogs, metrics, "raw-sim");
        RawKillBaseline.run(cleanup, RawKillBaseline.Tree.SH, options.vmms, rawLogs, metrics, "raw-sh");

        perf.printEndCounters();
        System.out.println();
        metrics.print(System.out);
        System.out.println();
        ratio(metrics, "http-answer", "raw-sim-kill-to-empty");
        ratio(metrics, "kill-to-empty", "raw-sim-kill-to-empty");
        ratio(metrics, "zone-gone", "raw-sim-kill-to-empty");
        ratio(metrics, "nexus-destroyed", "raw-sim-kill-to-empty");
        ratio(metrics, "http-answer", "raw-sh-kill-to-empty");
        for (final Path file : metrics.write(options.out))
        {
            System.out.println("wrote " + file);
        }
        final Path log = options.out.resolve("force-terminate.agent.log");
        logs.write(log);
        System.out.println("wrote " + log);
    }

    /**
     * The call {@code ZoneTeardown}'s last look makes (state-monitor from gen 0, 100 ms bound), timed from here;
     * -1 if it failed or took longer than the agent would wait.
     */
    private static long probeLastLook(final PropolisClient propolis, final String addr) throws InterruptedException
    {
        final long start = System.nanoTime();
        try
        {
            propolis.monitor(addr, 0, Duration.ofMillis(100)).get(1, TimeUnit.SECONDS);
            return TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - start);
        }
        catch (final ExecutionException | TimeoutException ex)
        {
            System.out.println("  last-look probe of " + addr + " failed: " + ex);
            return -1;
        }
    }

    private static void ratio(final Metrics metrics, final String measured, final String floor)
    {
        final Histogram a = metrics.histogram(measured);
        final Histogram b = metrics.histogram(floor);
        if (a.getTotalCount() == 0 || b.getTotalCount() == 0)
        {
            return;
        }
        System.out.printf(Locale.ROOT, "ratio %s / %s: p50 %.2fx, p99 %.2fx%n", measured, floor,
            (double)a.getValueAtPercentile(50) / Math.max(1, b.getValueAtPercentile(50)),
            (double)a.getValueAtPercentile(99) / Math.max(1, b.getValueAtPercentile(99)));
    }

    /** Microseconds from {@code startNs} to {@code ns}, or -1 if {@code ns} was never taken (0). */
    static long since(final long startNs, final long ns)
    {
        return ns == 0 ? -1 : TimeUnit.NANOSECONDS.toMicros(ns - startNs);
    }

    static long micros(final Instant from, final Instant to)
    {
        return Duration.between(from, to).toNanos() / 1000;
    }
}
