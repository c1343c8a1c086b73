package sledagent.perf;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import sledagent.agent.core.SledAgent;

/** GET /state at fixed rates and at the maximum, agent and bare Netty server interleaved. */
final class GetStateScenario
{
    private final LoadOptions options;

    GetStateScenario(final LoadOptions options)
    {
        this.options = options;
    }

    void run() throws Exception
    {
        final List<Double> rates = options.doubles("rates", "1000,5000,10000,20000");
        final long durationNs = TimeUnit.SECONDS.toNanos(options.integer("duration-s", 10));
        final long warmupNs = TimeUnit.SECONDS.toNanos(options.integer("warmup-s", 5));
        final int connections = options.integer("connections", 16);
        final int maxConnections = options.integer("max-connections", 16);
        final int vmms = options.integer("vmms", 100);
        final Path out = options.out();
        final Report.Summary summary = new Report.Summary("get-state", options);
        try (Cleanup undo = new Cleanup())
        {
            final AgentLog log = AgentLog.configure(options, out.resolve("get-state.agent.log"), Level.WARNING);
            undo.push("close agent log", log::close);
            final Path stateDir = LoadAgent.tmpfsDir(undo);
            final SledAgent agent = LoadAgent.launchAgent(stateDir, "fake", null, List.of());
            undo.push("close agent", agent::close);
            final BareNettyServer bare = BareNettyServer.start(new InetSocketAddress("127.0.0.1", 0), 1);
            undo.push("close bare server", bare::close);
            final InetSocketAddress agentAddr = LoadAgent.loopback(agent);
            final List<UUID> ids = Register.all(agentAddr, vmms, 4, null).ids();
            final Path paths = LoadAgent.writePaths(out.resolve("get-state.paths"), ids);
            final LoadGen gen = LoadGen.create(options, undo);
            final Measure.Target agentTarget = new Measure.Target("agent", agentAddr);
            final Measure.Target bareTarget = new Measure.Target("bare-netty", bare.address());
            System.out.printf("get-state: agent %s, bare Netty %s, %d VMMs, load generator %s%n", agentAddr,
                bare.address(), vmms, gen.describe());

            // JIT warm-up of both servers (and of the client), not recorded.
            for (final Measure.Target target : List.of(agentTarget, bareTarget))
            {
                Measure.run(gen, target, true, 0, warmupNs, maxConnections, paths);
                Measure.run(gen, target, false, rates.get(rates.size() - 1), warmupNs, connections, paths);
            }
            final int idleConnections = options.integer("idle-connections", 0);
            if (idleConnections > 0)
            {
                final List<java.nio.channels.SocketChannel> idle = openIdle(agentAddr, idleConnections);
                undo.push("close idle connections", () -> closeAll(idle));
                summary.line(String.format(Locale.ROOT, "%d idle connections held open to the agent during "
                    + "the measured runs (opened after the warm-up, no request sent on them).", idle.size()));
                System.out.printf("  %d idle connections held to the agent%n", idle.size());
            }
            final int repeat = options.integer("repeat", 1);
            final List<Measure.Row> rows = new ArrayList<>();
            for (int round = 1; round <= repeat; round++)
            {
                final String label = repeat == 1 ? null : "round " + round;
                for (final double rate : rates)
                {
                    for (final Measure.Target target : List.of(agentTarget, bareTarget))
                    {
                        rows.add(Measure.run(gen, target, false, rate, durationNs, connections, paths)
                            .labelled(label));
                        System.out.println("  " + rows.get(rows.size() - 1).oneLine());
                    }
                }
                for (final Measure.Target target : List.of(agentTarget, bareTarget))
                {
                    rows.add(Measure.run(gen, target, true, 0, durationNs, maxConnections, paths)
                        .labelled(label));
                    System.out.println("  " + rows.get(rows.size() - 1).oneLine());
                }
            }
            for (final Measure.Row row : rows)
            {
                row.writeHgrm(out, "get-state");
            }
            summary.table(Measure.table(rows));
            final List<Double> ratios = new ArrayList<>();
            final List<Measure.Row> agentMax = rows.stream().filter(r -> r.closed() && r.target().equals("agent"))
                .toList();
            final List<Measure.Row> bareMax = rows.stream()
                .filter(r -> r.closed() && r.target().equals("bare-netty")).toList();
            for (int i = 0; i < agentMax.size(); i++)
            {
                ratios.add(agentMax.get(i).result().achievedPerSec() / bareMax.get(i).result().achievedPerSec());
            }
            summary.line(String.format(Locale.ROOT, "Maximum throughput, agent / bare Netty (each round: "
                    + "the two runs back to back, %d connections, closed loop): **%s** (target: at least 0.5). "
                    + "Server CPU per request at the maximum: agent %.1f us, bare Netty %.1f us (median round); "
                    + "the client used %s cores against the bare server, so that figure is partly the client's "
                    + "limit and the ratio errs towards 1.",
                maxConnections, ratios.stream().map(r -> String.format(Locale.ROOT, "%.2f", r))
                    .collect(Collectors.joining(", ")), Measure.medianUsPerRequest(agentMax),
                Measure.medianUsPerRequest(bareMax), bareMax.stream().map(r -> String.format(Locale.ROOT, "%.2f",
                    r.clientCores())).collect(Collectors.joining(", "))));
            for (final Measure.Target target : List.of(agentTarget, bareTarget))
            {
                final List<Measure.Row> at20k = rows.stream().filter(r -> r.target().equals(target.name())
                    && !r.closed() && r.offered() == 20_000).toList();
                if (!at20k.isEmpty())
                {
                    summary.line(String.format(Locale.ROOT, "%s p99 at 20,000 requests/s (each round): **%s ms**%s.",
                        target.name(), Measure.p99s(at20k), target == agentTarget ? " (target: at most 1 ms)" : ""));
                }
            }
            if (options.flag("jfr"))
            {
                final Path jfr = out.resolve("get-state.agent.jfr");
                final Recording recording = JfrTop.startJfr(jfr);
                final Measure.Row profiled = Measure.run(gen, agentTarget, true, 0, durationNs, maxConnections,
                    paths);
                recording.stop();
                recording.close();
                System.out.println("  profiled (JFR " + jfr + "): " + profiled.oneLine());
                summary.line("JFR of a closed-loop run against the agent: `" + jfr + "` ("
                    + "`java -cp perf/target/benchmarks.jar sledagent.perf.LoadTool jfr-top " + jfr + "`).");
                JfrTop.print(jfr, 25, System.out);
            }
            System.out.println();
            System.out.println(Measure.table(rows));
            summary.write(out);
        }
    }

    /** {@code count} connections to {@code address} that send nothing (the agent's idle timeout is 120 s). */
    private static List<java.nio.channels.SocketChannel> openIdle(final InetSocketAddress address, final int count)
        throws IOException
    {
        final List<java.nio.channels.SocketChannel> idle = new ArrayList<>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                idle.add(java.nio.channels.SocketChannel.open(address));
            }
        }
        catch (final IOException ex)
        {
            closeAll(idle);
            throw ex;
        }
        return idle;
    }

    private static void closeAll(final List<java.nio.channels.SocketChannel> channels)
    {
        for (final java.nio.channels.SocketChannel channel : channels)
        {
            try
            {
                channel.close();
            }
            catch (final IOException ex)
            {
                // Closing a socket of ours: nothing to do about a failure.
            }
        }
    }
}
