package sledagent.perf;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.HdrHistogram.Histogram;

/** One load run and what it cost. */
final class Measure
{
    private Measure()
    {
    }

    /** A measured run. CPU figures are in cores (CPU time / wall time). */
    record Row(String target, boolean closed, double offered, int connections, OpenLoopClient.Result result,
        double serverCores, double clientCores, double machineCores, Probes.Gc serverGc, Probes.Gc clientGc,
        double serverGcCores, long serverAllocBytes, long serverHiccupMaxNs, long clientHiccupMaxNs,
        String label)
    {
        Row labelled(final String text)
        {
            return new Row(target, closed, offered, connections, result, serverCores, clientCores, machineCores,
                serverGc, clientGc, serverGcCores, serverAllocBytes, serverHiccupMaxNs, clientHiccupMaxNs, text);
        }

        /** CPU the rest of the machine used meanwhile (other builds): the noise in this row. */
        double otherCores()
        {
            return Math.max(0, machineCores - serverCores - clientCores);
        }

        long allocPerRequest()
        {
            final long answered = result.completed() + result.errors();
            return answered == 0 ? 0 : serverAllocBytes / answered;
        }

        String name()
        {
            return (label == null ? target : target + ", " + label)
                + (closed ? ", max" : String.format(Locale.ROOT, ", %.0f/s", offered));
        }

        String oneLine()
        {
            final Histogram h = result.latency();
            return String.format(Locale.ROOT, "%-28s %8.0f/s  p50 %s  p99 %s  p99.9 %s  max %s ms  err %d  "
                    + "cpu server %.2f (gc threads %.2f) client %.2f others %.2f  gc server %s client %s  "
                    + "%d B/req  stalls server %s client %s ms", name(),
                result.achievedPerSec(), ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(99)),
                ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()), result.errors() + result.unsent(),
                serverCores, serverGcCores, clientCores, otherCores(), serverGc, clientGc, allocPerRequest(),
                ms(serverHiccupMaxNs), ms(clientHiccupMaxNs));
        }

        void writeHgrm(final Path dir, final String scenario) throws IOException
        {
            final String file = scenario + "." + target + (label == null ? "" : "." + slug(label))
                + (closed ? ".max-c" + connections : "." + (long)offered) + ".hgrm";
            Measure.writeHgrm(dir.resolve(file), result.latency());
        }
    }

    static Row run(final LoadGen gen, final Target target, final boolean closed, final double rate,
        final long durationNs, final int connections, final Path requests) throws Exception
    {
        final long cpuBefore = Probes.processCpuNs();
        final long[] machineBefore = Probes.machineJiffies();
        final Probes.Gc gcBefore = Probes.Gc.now();
        final long gcCpuBefore = Probes.gcThreadsCpuNs();
        final Probes.Allocated allocBefore = Probes.Allocated.now();
        Probes.Hiccups.interval();
        final long wallStart = System.nanoTime();
        final LoadGen.Outcome outcome = gen.run(new OpenLoopClient.Spec(target.address(), closed, rate,
            durationNs, connections), requests);
        final long wallNs = System.nanoTime() - wallStart;
        final long serverCpu = Probes.processCpuNs() - cpuBefore - (gen.inProcess() ? outcome.clientCpuNs() : 0);
        final long machine = Probes.machineBusyNs(machineBefore, Probes.machineJiffies());
        final Probes.Gc serverGc = Probes.Gc.now().minus(gcBefore);
        final long gcCpu = Probes.gcThreadsCpuNs() - gcCpuBefore;
        final long alloc = allocBefore.since();
        final long serverHiccup = Probes.Hiccups.interval().getMaxValue();
        return new Row(target.name(), closed, rate, connections, outcome.result(), serverCpu / (double)wallNs,
            outcome.clientCpuNs() / (double)wallNs, machine / (double)wallNs,
            serverGc, outcome.clientGc(), gcCpu / (double)wallNs, alloc, serverHiccup,
            gen.inProcess() ? serverHiccup : outcome.clientHiccupMaxNs(), null);
    }

    static String table(final List<Row> rows)
    {
        final StringBuilder table = new StringBuilder();
        table.append("| server | offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
            + "| errors | client send lag p99 ms | longest stall (hiccup meter) server / client ms "
            + "| CPU server (of it GC threads) / client / other processes, cores "
            + "| GC pauses server; client | server alloc B/req |\n");
        table.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (final Row row : rows)
        {
            final Histogram h = row.result().latency();
            table.append(String.format(Locale.ROOT, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %s | "
                    + "%s / %s | %.2f (%.2f) / %.2f / %.2f | %s; %s | %d |%n",
                row.label() == null ? row.target() : row.target() + ", " + row.label(),
                row.closed() ? "max (" + row.connections() + " conns, closed loop)" : String.format(Locale.ROOT,
                    "%.0f", row.offered()),
                row.result().achievedPerSec(), ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(90)),
                ms(h.getValueAtPercentile(99)), ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()),
                row.result().errors() + row.result().unsent(),
                row.closed() ? "-" : ms(row.result().sendLag().getValueAtPercentile(99)),
                ms(row.serverHiccupMaxNs()), ms(row.clientHiccupMaxNs()),
                row.serverCores(), row.serverGcCores(), row.clientCores(), row.otherCores(), row.serverGc(),
                row.clientGc(),
                row.allocPerRequest()));
        }
        return table.toString();
    }

    static String ms(final long nanos)
    {
        final double ms = nanos / 1e6;
        return ms < 10 ? String.format(Locale.ROOT, "%.3f", ms) : String.format(Locale.ROOT, "%.1f", ms);
    }

    static String gcCores(final List<Measure.Row> rows)
    {
        return rows.stream().map(r -> String.format(Locale.ROOT, "%.2f", r.serverGcCores()))
            .collect(Collectors.joining(", "));
    }

    /** Median over rows of the server's CPU time per answered request, in microseconds. */
    static double medianUsPerRequest(final List<Measure.Row> rows)
    {
        final List<Double> values = rows.stream()
            .map(r -> r.serverCores() * 1e6 / Math.max(1, r.result().achievedPerSec())).sorted().toList();
        return values.isEmpty() ? 0 : values.get(values.size() / 2);
    }

    /** Each row's p99 in ms, and their median when there are several. */
    static String p99s(final List<Measure.Row> rows)
    {
        final List<Long> values = rows.stream().map(r -> r.result().latency().getValueAtPercentile(99)).toList();
        final String each = values.stream().map(Measure::ms).collect(Collectors.joining(", "));
        if (values.size() < 2)
        {
            return each;
        }
        final List<Long> sorted = values.stream().sorted().toList();
        return each + " (median " + Measure.ms(sorted.get(sorted.size() / 2)) + ")";
    }

    /** A server under load. */
    record Target(String name, InetSocketAddress address)
    {
    }

    static void writeHgrm(final Path file, final Histogram histogram) throws IOException
    {
        Files.createDirectories(file.getParent());
        try (PrintStream out = new PrintStream(Files.newOutputStream(file), false, StandardCharsets.UTF_8))
        {
            histogram.outputPercentileDistribution(out, 1000.0);
        }
    }

    static Histogram histogram()
    {
        return new Histogram(OpenLoopClient.HIGHEST_NS, 3);
    }

    static String slug(final String text)
    {
        return text.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
    }
}
