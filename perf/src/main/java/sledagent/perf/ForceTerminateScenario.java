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
        metrics.define("before-teardown", "request written -> teardown began (HTTP in, actor, pool hand-off)");
        metrics.define("after-teardown-http", "teardown ended -> answer read (actor, reply, HTTP out)");
        metrics.define("get-state-rtt", "GET /state round trip on the same connection (HTTP floor)");
        metrics.define("probe-last-look", "PropolisClient.monitor(addr, 0) to the sim from this JVM, just before the force");
        metrics.define("raw-sim-kill-to-empty", "CgroupZoneBackend: killAll -> awaitEmpty true, sim tree");
        metrics.define("raw-sim-kill-to-rmdir", "CgroupZoneBackend: killAll -> destroy done, sim tree");
        metrics.define("raw-sh-kill-to-empty", "CgroupZoneBackend: killAll -> awaitEmpty true, sh + 2 sleeps");
        metrics.define("raw-sh-kill-to-rmdir", "CgroupZoneBackend: killAll -> destroy done, sh + 2 sleeps");
        metrics.csvColumns("i", "propolis_id", "http_answer_us", "zone_gone_us", "nexus_destroyed_us",
            "agent_teardown_us", "before_teardown_us", "get_state_rtt_us", "probe_last_look_us");

        final PerfAgent perf = PerfAgent.start(cleanup, options.startTimeoutMs);
        System.out.printf("agent on %s, zones under %s%n", perf.address, perf.zoneRoot);
        final PropolisClient propolis = new PropolisClient(Duration.ofSeconds(2));
        cleanup.push("close propolis client", propolis::close);
        final ZoneDirWatch watch = new ZoneDirWatch(perf.zoneRoot);
        cleanup.push("close zone watch", watch::close);
        final int total = options.vmms + options.warmup;
        final List<PerfAgent.Vmm> vmms = perf.startVmms(total, options.batch, Duration.ofMillis(options.startTimeoutMs));
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
                // Warms the connection, and gives the HTTP floor on it.
                final long g0 = System.nanoTime();
                final RawHttp.Answer state = http.request("GET", "/vmms/" + id + "/state", null);
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
            if (recorded)
            {
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
                    metrics.record("after-teardown-http", httpUs - beforeUs - teardownUs);
                }
            }
            metrics.csvRow(i, id, httpUs, goneUs, nexusUs, teardownUs, beforeUs, getStateUs, probeUs);
            System.out.printf(Locale.ROOT, "  %2d %s answer %8.3f ms, zone gone %8.3f ms, nexus %8.3f ms, teardown %8.3f ms%s%n",
                i, id, httpUs / 1000.0, goneUs / 1000.0, nexusUs / 1000.0, teardownUs / 1000.0,
                recorded ? "" : " (warm-up)");
            Thread.sleep(options.pauseMs);
        }

        final Path rawLogs = perf.stateDir.resolve("raw-logs");
        System.out.printf("raw baseline: %d sims, then %d shell trees, killed with CgroupZoneBackend directly%n",
            options.vmms, options.vmms);
        RawKillBaseline.run(cleanup, RawKillBaseline.Tree.SIM, options.vmms, rawLogs, metrics, "raw-sim");
        RawKillBaseline.run(cleanup, RawKillBaseline.Tree.SH, options.vmms, rawLogs, metrics, "raw-sh");

        System.out.println();
        metrics.print(System.out);
        System.out.println();
        ratio(metrics, "http-answer", "raw-sim-kill-to-empty");
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

    static long micros(final Instant from, final Instant to)
    {
        return Duration.between(from, to).toNanos() / 1000;
    }
}
