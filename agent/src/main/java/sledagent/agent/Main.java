package sledagent.agent;

import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import sledagent.agent.demo.Demo;

/**
 * {@code sled-agent serve | demo | --version | --help}. Exit status: 0 ok, 2 bad usage, 1 failure.
 */
public final class Main
{
    private static final String USAGE = """
        usage: sled-agent <command> [options]

        commands:
          serve    run the daemon
                   --listen HOST:PORT     HTTP API address (default 127.0.0.1:12345)
                   --nexus URL            Nexus internal API base URL; repeat for failover
                                          (default: none, states are only logged and served)
                   --state-dir DIR        VMM logs and records (default /var/lib/sled-agent)
                   --stop-grace DURATION  how long a stop may take before the zone is killed (default 600s)
                   --zone-root DIR        cgroup v2 directory for zones (default: the agent's own cgroup)
                   --sled-id UUID         this sled's id (default: random)
                   --start-timeout DURATION  spawn to "Propolis ensured and running" (default 60s)
                   --zones BACKEND        auto (default), cgroup, pgroup, illumos or fake
                   --sweep-interval DURATION  how often unknown zones are removed (default 60s)
          demo     start the agent with a recording Nexus, run and stop one VMM, print what Nexus received
                   --stop-grace DURATION  (default 10s)
                   --verbose              show the agent's log

        options: --help, --version
        """;

    private Main()
    {
    }

    public static void main(final String[] args)
    {
        System.exit(run(args, System.out, System.err));
    }

    static int run(final String[] args, final PrintStream out, final PrintStream err)
    {
        if (args.length == 0 || "--help".equals(args[0]) || "-h".equals(args[0]) || "help".equals(args[0]))
        {
            (args.length == 0 ? err : out).print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        if ("--version".equals(args[0]))
        {
            out.println("sled-agent " + Version.text());
            return 0;
        }
        final List<String> rest = List.of(args).subList(1, args.length);
        try
        {
            return switch (args[0])
            {
                case "serve" -> serve(rest);
                case "demo" -> demo(rest, out);
                default -> usage(err, "unknown command '" + args[0] + "'");
            };
        }
        catch (final HelpRequested ex)
        {
            out.print(USAGE);
            return 0;
        }
        catch (final UsageException ex)
        {
            return usage(err, ex.getMessage());
        }
        catch (final Exception ex)
        {
            err.println("sled-agent: " + ex);
            ex.printStackTrace(err);
            return 1;
        }
    }

    private static int serve(final List<String> args) throws Exception
    {
        String listen = AgentConfig.DEFAULT_LISTEN;
        final List<URI> nexus = new ArrayList<>();
        Path stateDir = AgentConfig.DEFAULT_STATE_DIR;
        long stopGraceMs = AgentConfig.DEFAULT_STOP_GRACE_MS;
        Path zoneRoot = null;
        UUID sledId = UUID.randomUUID();
        long startTimeoutMs = AgentConfig.DEFAULT_START_TIMEOUT_MS;
        String zoneBackend = AgentConfig.DEFAULT_ZONE_BACKEND;
        long sweepIntervalMs = AgentConfig.DEFAULT_SWEEP_INTERVAL_MS;
        for (int i = 0; i < args.size(); i++)
        {
            final String flag = args.get(i);
            switch (flag)
            {
                case "--help", "-h" -> throw new HelpRequested();
                case "--listen" -> listen = value(args, ++i, flag);
                case "--nexus" -> nexus.add(URI.create(value(args, ++i, flag)));
                case "--state-dir" -> stateDir = Path.of(value(args, ++i, flag));
                case "--stop-grace" -> stopGraceMs = duration(value(args, ++i, flag), flag);
                case "--zone-root" -> zoneRoot = Path.of(value(args, ++i, flag));
                case "--sled-id" -> sledId = uuid(value(args, ++i, flag), flag);
                case "--start-timeout" -> startTimeoutMs = duration(value(args, ++i, flag), flag);
                case "--zones" -> zoneBackend = value(args, ++i, flag);
                case "--sweep-interval" -> sweepIntervalMs = duration(value(args, ++i, flag), flag);
                default -> throw new UsageException("unknown option '" + flag + "' for serve");
            }
        }
        final AgentConfig config;
        try
        {
            config = new AgentConfig(AgentConfig.parseHostPort(listen), nexus, stateDir, stopGraceMs, zoneRoot,
                sledId, startTimeoutMs, zoneBackend, sweepIntervalMs);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(ex.getMessage());
        }
        Logging.configure(Level.INFO);
        final CountDownLatch stopped = new CountDownLatch(1);
        final SledAgent agent = SledAgent.launch(config);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            // SIGTERM: stop serving and leave the VMMs running.
            agent.close();
            stopped.countDown();
        }, "sled-agent-shutdown"));
        stopped.await();
        return 0;
    }

    private static int demo(final List<String> args, final PrintStream out) throws Exception
    {
        long stopGraceMs = 10_000;
        boolean verbose = false;
        for (int i = 0; i < args.size(); i++)
        {
            final String flag = args.get(i);
            switch (flag)
            {
                case "--help", "-h" -> throw new HelpRequested();
                case "--stop-grace" -> stopGraceMs = duration(value(args, ++i, flag), flag);
                case "--verbose" -> verbose = true;
                default -> throw new UsageException("unknown option '" + flag + "' for demo");
            }
        }
        Logging.configure(verbose ? Level.INFO : Level.WARNING);
        return Demo.run(out, stopGraceMs);
    }

    private static String value(final List<String> args, final int index, final String flag)
    {
        if (index >= args.size())
        {
            throw new UsageException(flag + " needs a value");
        }
        return args.get(index);
    }

    private static long duration(final String text, final String flag)
    {
        try
        {
            return Durations.parseMs(text);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(flag + ": " + ex.getMessage());
        }
    }

    private static UUID uuid(final String text, final String flag)
    {
        try
        {
            return UUID.fromString(text);
        }
        catch (final IllegalArgumentException ex)
        {
            throw new UsageException(flag + ": not a UUID: " + text);
        }
    }

    private static int usage(final PrintStream err, final String message)
    {
        if (message != null)
        {
            err.println("sled-agent: " + message);
        }
        err.print(USAGE);
        return 2;
    }

    /** {@code --help} after a command: the usage on stdout, exit 0. */
    private static final class HelpRequested extends RuntimeException
    {
        HelpRequested()
        {
            super(null, null, false, false);
        }
    }

    /** Bad command line: exit 2 with the usage. */
    private static final class UsageException extends RuntimeException
    {
        UsageException(final String message)
        {
            super(message);
        }
    }
}
