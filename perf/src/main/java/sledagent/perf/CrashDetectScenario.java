package sledagent.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import sledagent.api.VmmState;

/**
 * A VMM that dies on its own: SIGKILL to each running sim's JVM (found in its zone's {@code cgroup.procs} by the
 * {@code PropolisSimMain} in its command line), one at a time. Measured from the signal: Nexus received
 * {@code failed}, and {@code GET /state} shows {@code failed} (polled on one kept-alive connection; a 404 means
 * the VMM already left the table, which it does only after {@code failed} was published, and counts too). The
 * agent's teardown line splits it into detection (kill -> teardown began: the JVM dying, the pidfd of its
 * {@code unshare} parent turning readable, the actor) and the teardown itself.
 */
final class CrashDetectScenario
{
    private static final Duration BOUND = Duration.ofSeconds(15);

    private CrashDetectScenario()
    {
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup, final LogCapture logs)
        throws Exception
    {
        final Metrics metrics = new Metrics("crash-detect");
        metrics.define("nexus-failed", "SIGKILL of the sim JVM -> Nexus received failed");
        metrics.define("get-state-failed", "SIGKILL -> GET /state shows failed (or 404 after it)");
        metrics.define("kill-to-actor", "SIGKILL -> the actor handles the exit (its first record write begins)");
        metrics.define("kill-to-teardown", "SIGKILL -> agent's teardown began (exit seen via pidfd, actor)");
        metrics.define("agent-teardown", "ZoneTeardown.run as the agent logs it (kill rest, empty, rmdir)");
        metrics.define("teardown-to-kill", "teardown began -> the agent's cgroup.kill write began");
        metrics.define("agent-kill-to-empty", "the agent's killAll began -> its awaitEmpty returned true");
        metrics.define("rmdir-to-nexus", "rmdir done -> Nexus received failed (actor, publish, HTTP)");
        metrics.define("rmdir-to-get-state", "rmdir done -> GET /state poll saw failed");
        metrics.define("store-writes",
            "record writes (VmmStore save/delete, queued by the actor -> acknowledged after their sync), "
                + "kill -> Nexus got failed, summed");
        metrics.define("store-write", "one record write of those, each");
        metrics.csvColumns("i", "propolis_id", "sim_pid", "nexus_failed_us", "get_state_failed_us", "seen_as",
            "kill_to_teardown_us", "agent_teardown_us", "agent_kill_start_us", "agent_empty_us", "rmdir_us",
            "store_writes_us", "store_write_count");

        final PerfAgent perf = PerfAgent.start(cleanup, options.startTimeoutMs);
        System.out.printf("agent on %s, zones under %s%n", perf.address, perf.zoneRoot);
        final int total = options.vmms + options.warmup;
        final List<PerfAgent.Vmm> vmms = perf.startVmms(total, options.batch,
            Duration.ofMillis(options.startTimeoutMs));
        Thread.sleep(options.settleMs);

        System.out.printf("SIGKILLing %d sim JVMs one at a time (%d warm-up, not recorded)%n", total, options.warmup);
        int seenAs404 = 0;
        for (int i = 0; i < vmms.size(); i++)
        {
            final PerfAgent.Vmm vmm = vmms.get(i);
            final String id = vmm.id().toString();
            final boolean recorded = i >= options.warmup;
            final OptionalLong simPid = PerfZones.simJvmPid(perf.zoneDir(vmm.id()));
            if (simPid.isEmpty())
            {
                throw new IllegalStateException("no PropolisSimMain process in " + perf.zoneDir(vmm.id()) + ": "
                    + PerfZones.pids(perf.zoneDir(vmm.id())));
            }
            final ProcessHandle sim = ProcessHandle.of(simPid.getAsLong())
                .orElseThrow(() -> new IllegalStateException("sim pid " + simPid + " already gone"));
            final long stateNs;
            final Instant wall0;
            final long t0;
            final String seenAs;
            try (RawHttp http = perf.connect())
            {
                final RawHttp.Answer before = http.request("GET", "/vmms/" + id + "/state", null);
                if (before.status() != 200 || !before.body().contains("\"running\""))
                {
                    throw new IllegalStateException("vmm " + id + " is not running before the kill: " + before);
                }
                wall0 = Instant.now();
                t0 = System.nanoTime();
                if (!sim.destroyForcibly())
                {
                    throw new IllegalStateException("could not SIGKILL sim pid " + sim.pid());
                }
                final long deadline = t0 + BOUND.toNanos();
                while (true)
                {
                    final RawHttp.Answer state = http.request("GET", "/vmms/" + id + "/state", null);
                    final long now = System.nanoTime();
                    if (state.status() == 404 || state.body().contains("\"state\":\"failed\""))
                    {
                        stateNs = now;
                        seenAs = state.status() == 404 ? "404" : "failed";
                        break;
                    }
                    if (now - deadline >= 0)
                    {
                        throw new IllegalStateException("vmm " + id + " not failed " + BOUND + " after the kill: "
                            + state);
                    }
                    LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(options.statePollUs));
                }
            }
            final Optional<Instant> nexusAt = perf.awaitPublished(vmm.id(), VmmState.FAILED, BOUND);
            if (nexusAt.isEmpty())
            {
                throw new IllegalStateException("Nexus did not receive failed for " + id + " within " + BOUND
                    + "; received " + perf.nexus.received(vmm.id()).stream().map(r -> r.state().vmmState().state())
                    .toList());
            }
            if (!perf.awaitRemoved(vmm.id(), BOUND))
            {
                throw new IllegalStateException("vmm " + id + " still in the agent's table " + BOUND + " after");
            }
            final long nexusUs = ForceTerminateScenario.micros(wall0, nexusAt.get());
            final long stateUs = TimeUnit.NANOSECONDS.toMicros(stateNs - t0);
            final Optional<LogCapture.Teardown> teardown = logs.tornDown(id);
            final long detectUs = teardown.map(t -> ForceTerminateScenario.micros(wall0, t.startedAt())).orElse(-1L);
            final long teardownUs = teardown.map(LogCapture.Teardown::tookMicros).orElse(-1L);
            final Optional<TimedZones.Times> times = perf.timedZones.times(PerfAgent.zoneName(vmm.id()));
            final long killStartUs = times.map(t -> ForceTerminateScenario.since(t0, t.killStartNs)).orElse(-1L);
            final long emptyUs = times.map(t -> ForceTerminateScenario.since(t0, t.emptyNs)).orElse(-1L);
            final long rmdirUs = times.map(t -> ForceTerminateScenario.since(t0, t.destroyEndNs)).orElse(-1L);
            final long nexusNs = t0 + TimeUnit.MICROSECONDS.toNanos(nexusUs);
            final List<TimedStore.Write> writes = perf.timedStore.writesSince(vmm.id(), t0).stream()
                .filter(w -> w.endNs() - nexusNs <= 0).toList();
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
                    metrics.record("kill-to-actor", ForceTerminateScenario.since(t0, writes.get(0).startNs()));
                }
                metrics.record("nexus-failed", nexusUs);
                metrics.record("get-state-failed", stateUs);
                if (teardown.isPresent())
                {
                    metrics.record("kill-to-teardown", detectUs);
                    metrics.record("agent-teardown", teardownUs);
                    if (killStartUs >= 0)
                    {
                        metrics.record("teardown-to-kill", killStartUs - detectUs);
                    }
                }
                if (killStartUs >= 0 && emptyUs >= 0 && rmdirUs >= 0)
                {
                    metrics.record("agent-kill-to-empty", emptyUs - killStartUs);
                    metrics.record("rmdir-to-nexus", nexusUs - rmdirUs);
                    metrics.record("rmdir-to-get-state", stateUs - rmdirUs);
                }
                if ("404".equals(seenAs))
                {
                    seenAs404++;
                }
            }
            metrics.csvRow(i, id, sim.pid(), nexusUs, stateUs, seenAs, detectUs, teardownUs, killStartUs, emptyUs,
                rmdirUs, writesUs, writes.size());
            System.out.printf(Locale.ROOT,
                "  %2d %s nexus failed %8.3f ms, GET /state %8.3f ms (%s), teardown began %8.3f ms%s%n",
                i, id, nexusUs / 1000.0, stateUs / 1000.0, seenAs, detectUs / 1000.0, recorded ? "" : " (warm-up)");
            Thread.sleep(options.pauseMs);
        }

        perf.printEndCounters();
        System.out.println();
        metrics.print(System.out);
        System.out.printf("GET /state polled every %d us; %d of %d recorded kills were first seen as 404%n",
            options.statePollUs, seenAs404, options.vmms);
        for (final Path file : metrics.write(options.out))
        {
            System.out.println("wrote " + file);
        }
        final Path log = options.out.resolve("crash-detect.agent.log");
        logs.write(log);
        System.out.println("wrote " + log);
    }
}
