package sledagent.perf;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import org.HdrHistogram.Histogram;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.persist.FileVmmStore;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmRecord;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;

/** 100,000 registered VMMs: heap used, GET /state p99 against a small table, register cost, fsync cost. */
final class ScaleScenario
{
    private final LoadOptions options;

    ScaleScenario(final LoadOptions options)
    {
        this.options = options;
    }

    void run() throws Exception
    {
        final int vmms = options.integer("vmms", 100_000);
        final int baseline = options.integer("baseline-vmms", 100);
        final double rate = options.decimal("rate", 20_000);
        final long durationNs = TimeUnit.SECONDS.toNanos(options.integer("duration-s", 10));
        final long warmupNs = TimeUnit.SECONDS.toNanos(options.integer("warmup-s", 5));
        final int connections = options.integer("connections", 16);
        final int registerThreads = options.integer("register-threads", 8);
        final Path out = options.out();
        final Report.Summary summary = new Report.Summary("scale", options);
        try (Cleanup undo = new Cleanup())
        {
            final AgentLog log = AgentLog.configure(options, out.resolve("scale.agent.log"), Level.WARNING);
            undo.push("close agent log", log::close);
            final Path stateDir = LoadAgent.tmpfsDir(undo);
            final long heapEmpty = Probes.heapUsedAfterGc();
            final SledAgent agent = LoadAgent.launchAgent(stateDir, "fake", null, List.of());
            undo.push("close agent", agent::close);
            final InetSocketAddress addr = LoadAgent.loopback(agent);
            final LoadGen gen = LoadGen.create(options, undo);
            final Measure.Target target = new Measure.Target("agent", addr);
            System.out.printf("scale: agent %s, state dir %s, %d VMMs (baseline %d), GET /state at %.0f/s, "
                + "load generator %s, max heap %d MB%n", addr, stateDir, vmms, baseline, rate, gen.describe(),
                Runtime.getRuntime().maxMemory() >> 20);

            final List<UUID> small = Register.all(addr, baseline, 4, null).ids();
            final Path smallPaths = LoadAgent.writePaths(out.resolve("scale.small.paths"), small);
            Measure.run(gen, target, true, 0, warmupNs, connections, smallPaths);
            Measure.run(gen, target, false, rate, warmupNs, connections, smallPaths);
            final int repeat = options.integer("repeat", 1);
            final List<Measure.Row> smallRows = new ArrayList<>();
            for (int round = 1; round <= repeat; round++)
            {
                smallRows.add(Measure.run(gen, target, false, rate, durationNs, connections, smallPaths)
                    .labelled(baseline + " VMMs" + (repeat == 1 ? "" : ", round " + round)));
                System.out.println("  " + smallRows.get(smallRows.size() - 1).oneLine());
            }
            final long heapSmall = Probes.heapUsedAfterGc();

            final Histogram registerNs = Measure.histogram();
            final long regStart = System.nanoTime();
            final List<UUID> rest = Register.all(addr, vmms - baseline, registerThreads, registerNs).ids();
            final long regNs = System.nanoTime() - regStart;
            System.out.printf("  registered %d more in %.1f s (%.0f/s, %d threads); register p50 %s ms, p99 %s ms%n",
                rest.size(), regNs / 1e9, rest.size() * 1e9 / regNs, registerThreads,
                Measure.ms(registerNs.getValueAtPercentile(50)), Measure.ms(registerNs.getValueAtPercentile(99)));
            Measure.writeHgrm(out.resolve("scale.register.hgrm"), registerNs);
            final long heapLarge = Probes.heapUsedAfterGc();
            final int inTable = agent.manager().table().size();
            final String classes = Probes.classHistogram(20);
            Files.writeString(out.resolve("scale.class-histogram.txt"), classes);

            final List<UUID> all = new ArrayList<>(small);
            all.addAll(rest);
            Collections.shuffle(all);
            final Path allPaths = LoadAgent.writePaths(out.resolve("scale.all.paths"), all);
            Measure.run(gen, target, false, rate, warmupNs, connections, allPaths);
            final List<Measure.Row> largeRows = new ArrayList<>();
            for (int round = 1; round <= repeat; round++)
            {
                largeRows.add(Measure.run(gen, target, false, rate, durationNs, connections, allPaths)
                    .labelled(inTable + " VMMs" + (repeat == 1 ? "" : ", round " + round)));
                System.out.println("  " + largeRows.get(largeRows.size() - 1).oneLine());
            }
            if (options.flag("jfr"))
            {
                // A run of its own: the recording (1 ms sampling) slows the server, so it is not the measurement.
                final Path jfr = out.resolve("scale.agent.jfr");
                final Recording recording = JfrTop.startJfr(jfr);
                final Measure.Row profiled = Measure.run(gen, target, false, rate, durationNs, connections,
                    allPaths).labelled(inTable + " VMMs, under JFR");
                recording.stop();
                recording.close();
                System.out.println("  profiled (JFR " + jfr + "): " + profiled.oneLine());
                JfrTop.print(jfr, 25, System.out);
                summary.line("JFR of one more run with " + inTable + " VMMs (not the measurement): `" + jfr + "`.");
            }
            for (final Measure.Row row : smallRows)
            {
                row.writeHgrm(out, "scale");
            }
            for (final Measure.Row row : largeRows)
            {
                row.writeHgrm(out, "scale");
            }

            final Fsync.Cost tmpfs = Fsync.measure(stateDir.resolve("fsync-probe"), 500);
            final Path diskDir = Files.createTempDirectory(Path.of(options.string("disk-dir",
                System.getProperty("java.io.tmpdir"))), "sledperf-fsync");
            undo.push("remove " + diskDir, () -> PerfZones.deleteTree(diskDir));
            final Fsync.Cost disk = Fsync.measure(diskDir, 200);

            final long perVmm = (heapLarge - heapSmall) / Math.max(1, inTable - baseline);
            final List<Measure.Row> rows = new ArrayList<>(smallRows);
            rows.addAll(largeRows);
            final String table = Measure.table(rows);
            final StringBuilder heap = new StringBuilder();
            heap.append("| heap used after full GC | MB |\n|---|---|\n");
            heap.append(String.format(Locale.ROOT, "| this JVM before the agent started | %.1f |%n", heapEmpty / 1e6));
            heap.append(String.format(Locale.ROOT, "| agent with %d VMMs | %.1f |%n", baseline, heapSmall / 1e6));
            heap.append(String.format(Locale.ROOT, "| agent with %d VMMs | **%.1f** |%n", inTable, heapLarge / 1e6));
            heap.append(String.format(Locale.ROOT, "| per registered VMM | %d bytes |%n", perVmm));
            System.out.println();
            System.out.println(table);
            System.out.println(heap);
            System.out.println("largest classes after full GC:\n" + classes);
            summary.table(table);
            summary.table(heap.toString());
            summary.line(String.format(Locale.ROOT, "Registering: %d VMMs over HTTP in %.1f s (%.0f/s, %d "
                    + "client threads); `PUT /vmms/{id}` p50 %s ms, p99 %s ms, max %s ms (each writes and fsyncs "
                    + "its record, then the directory).", rest.size(), regNs / 1e9, rest.size() * 1e9 / regNs,
                registerThreads, Measure.ms(registerNs.getValueAtPercentile(50)),
                Measure.ms(registerNs.getValueAtPercentile(99)), Measure.ms(registerNs.getMaxValue())));
            summary.line(String.format(Locale.ROOT, "One record write (`FileVmmStore.save`: write, fsync, rename, "
                    + "fsync dir), alone: tmpfs `%s` p50 %s ms, p99 %s ms; disk `%s` p50 %s ms, p99 %s ms.",
                stateDir, Measure.ms(tmpfs.saveNs().getValueAtPercentile(50)),
                Measure.ms(tmpfs.saveNs().getValueAtPercentile(99)), diskDir,
                Measure.ms(disk.saveNs().getValueAtPercentile(50)), Measure.ms(disk.saveNs()
                    .getValueAtPercentile(99))));
            summary.line("Largest classes on the heap with " + inTable + " VMMs (`GC.class_histogram`, "
                + "full list in `scale.class-histogram.txt`):");
            summary.code(classes.lines().limit(14).collect(Collectors.joining("\n")));
            summary.line(String.format(Locale.ROOT, "GET /state p99 at %.0f requests/s (each round): **%s ms** "
                    + "with %d VMMs, **%s ms** with %d; heap used %.0f MB of a %d MB maximum heap; the "
                    + "collector's threads used %s cores during the runs with %d VMMs, %s with %d (target: at "
                    + "most 1 GB of heap with 100,000, p99 unchanged).", rate, Measure.p99s(smallRows), baseline,
                Measure.p99s(largeRows), inTable, heapLarge / 1e6, Runtime.getRuntime().maxMemory() >> 20,
                Measure.gcCores(smallRows), baseline, Measure.gcCores(largeRows), inTable));
            summary.write(out);
        }
    }

    /** The cost of one durable record write ({@link FileVmmStore#save}) in a directory. */
    static final class Fsync
    {
        private Fsync()
        {
        }

        record Cost(Histogram saveNs)
        {
        }

        static Cost measure(final Path dir, final int writes) throws Exception
        {
            final FileVmmStore store = new FileVmmStore(dir);
            final InstanceEnsureBody body = Json.mapper().readerFor(InstanceEnsureBody.class)
                .readValue(ExampleBodies.ensureBody(UUID.randomUUID(), "127.0.0.1:12400", 1));
            final Histogram saveNs = Measure.histogram();
            for (int i = 0; i < writes; i++)
            {
                final StoredVmm stored = StoredVmm.of(VmmRecord.registered(UUID.randomUUID(), body, Instant.now(),
                    600_000), 0, 0);
                final long start = System.nanoTime();
                store.save(stored);
                saveNs.recordValue(Math.min(OpenLoopClient.HIGHEST_NS, System.nanoTime() - start));
            }
            PerfZones.deleteTree(dir);
            return new Cost(saveNs);
        }
    }
}
