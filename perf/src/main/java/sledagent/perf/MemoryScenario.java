package sledagent.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.ToLongFunction;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.TinyGuest;
import sledagent.api.VmmState;

/**
 * {@code memory --vmms N}: N real guests running at once under one agent (propolis-qemu, launched the agent's own way:
 * with the class archive it trains at start, once that exists), started two at a time (2 cores, TCG); once every
 * guest printed its marker and {@code --settle-ms} passed, the memory of each propolis-qemu JVM and of each QEMU
 * ({@link ProcessMemory}: RSS, its anonymous and file parts, PSS, private). PSS is the per-guest cost: the JVMs
 * share the JDK's libraries and the class archive, which RSS counts in full in every one of them.
 */
final class MemoryScenario
{
    private static final Duration BOUND = Duration.ofSeconds(120);
    private static final int AT_ONCE = 2;

    private MemoryScenario()
    {
    }

    static void run(final StopLatency.Options options, final Cleanup cleanup) throws Exception
    {
        final String missing = TinyGuest.missing();
        if (missing != null)
        {
            throw new IllegalStateException("memory needs a real guest: " + missing);
        }
        final TinyGuest guest = TinyGuest.build(Path.of("perf/target/guest").toAbsolutePath());
        final PerfAgent perf = PerfAgent.start(cleanup, options.startTimeoutMs, AgentConfig.DEFAULT_STOP_GRACE_MS,
            guest.vmm());
        final Path archive = perf.awaitClassArchive();
        System.out.println("VMM: propolis-qemu, " + guest.vmm().describe() + ", guest " + GuestScenario.GUEST_MB
            + " MiB; class archive: " + (archive == null ? "none (training failed, see the agent's log)" : archive));
        final List<UUID> ids = new ArrayList<>();
        while (ids.size() < options.vmms)
        {
            final List<PerfAgent.Vmm> starting = new ArrayList<>();
            for (int i = 0; i < AT_ONCE && ids.size() < options.vmms; i++)
            {
                final PerfAgent.Vmm vmm = new PerfAgent.Vmm(UUID.randomUUID(), PerfAgent.freeAddr());
                check(perf.client.register(vmm.id(), ExampleBodies.ensureBody(UUID.randomUUID(), vmm.addr(), 1, null,
                    GuestScenario.GUEST_MB)), "register");
                cleanup.push("force-terminate " + vmm.id(), () -> perf.client.forceTerminate(vmm.id()));
                check(perf.client.putState(vmm.id(), "running"), "run");
                ids.add(vmm.id());
                starting.add(vmm);
            }
            for (final PerfAgent.Vmm vmm : starting)
            {
                GuestMarker.await(vmm.id(), vmm.addr(), BOUND);
            }
            System.out.printf("  %d/%d guests running%n", ids.size(), options.vmms);
        }
        Thread.sleep(options.settleMs);
        final List<ProcessMemory> jvms = new ArrayList<>();
        final List<ProcessMemory> qemus = new ArrayList<>();
        for (final UUID id : ids)
        {
            jvms.add(ProcessMemory.of(ZonePids.pidOf(perf.zoneDir(id), "java")));
            qemus.add(ProcessMemory.of(ZonePids.pidOf(perf.zoneDir(id), "qemu-system-")));
        }
        System.out.printf("%n%d guests running, settled %d ms; MiB per process: min / median / max (sum)%n",
            ids.size(), options.settleMs);
        print("propolis-qemu JVM", jvms);
        print("QEMU", qemus);
        for (final UUID id : ids)
        {
            check(perf.client.forceTerminate(id), "force-terminate");
            if (perf.awaitPublished(id, VmmState.DESTROYED, BOUND).isEmpty())
            {
                throw new IllegalStateException(id + " not destroyed within " + BOUND);
            }
        }
    }

    private static void print(final String kind, final List<ProcessMemory> all)
    {
        System.out.println("  " + kind);
        line("    RSS (VmRSS)", all, ProcessMemory::rssKb);
        line("      anonymous (RssAnon)", all, ProcessMemory::anonKb);
        line("      file-backed (RssFile)", all, ProcessMemory::fileKb);
        line("    PSS (shared pages divided)", all, ProcessMemory::pssKb);
        line("    private (freed by its death)", all, ProcessMemory::privateKb);
    }

    private static void line(final String name, final List<ProcessMemory> all, final ToLongFunction<ProcessMemory> kb)
    {
        final long[] values = all.stream().mapToLong(kb).sorted().toArray();
        long sum = 0;
        for (final long value : values)
        {
            sum += value;
        }
        System.out.printf("%-36s %7.1f / %7.1f / %7.1f  (%.1f)%n", name, values[0] / 1024.0,
            values[values.length / 2] / 1024.0, values[values.length - 1] / 1024.0, sum / 1024.0);
    }


    private static void check(final AgentHttpClient.Answer answer, final String what)
    {
        if (answer.status() != 200)
        {
            throw new IllegalStateException(what + ": " + answer.status() + " " + answer.body());
        }
    }
}
