package sledagent.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Help, version, usage errors (exit 2, before any request) and an unreachable agent (exit 1); no agent runs. */
class VmmUsageTest
{
    private static final String ID = "6dd4b1a6-0c8e-4d4f-9a53-0a2b7c1e9f00";

    /** A loopback port nothing listens on: every usage error here would otherwise be a connection failure. */
    private static String closedAgent;

    @BeforeAll
    static void findClosedPort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            closedAgent = "http://127.0.0.1:" + socket.getLocalPort();
        }
    }

    @Test
    void shouldPrintHelpForVmmAndEverySubcommand()
    {
        for (final List<String> args : List.of(List.of("--help"), List.of("-h"), List.of("help"),
            List.of("--agent", closedAgent, "--help")))
        {
            final CliRun run = CliRun.vmm(args.toArray(String[]::new));
            assertThat(run.status()).as("%s: %s", args, run).isZero();
            assertThat(run.out()).startsWith("usage: sled-agent vmm <command>").contains("list", "get ID",
                "stop ID", "terminate ID", "watch", "--agent URL", "--json", "http://127.0.0.1:12345");
            assertThat(run.err()).isEmpty();
        }
        for (final String command : VmmArgs.COMMANDS)
        {
            for (final List<String> args : List.of(List.of(command, "--help"), List.of(command, "-h"),
                List.of("--help", command), List.of("help", command), List.of(command, "not-a-uuid", "--bogus", "-h")))
            {
                final CliRun run = CliRun.vmm(args.toArray(String[]::new));
                assertThat(run.status()).as("%s: %s", args, run).isZero();
                assertThat(run.out()).startsWith("usage: sled-agent vmm " + command).contains("--agent URL");
            }
        }
        assertThat(CliRun.vmm("watch", "--help").out()).contains("--interval DURATION", "--for DURATION",
            "default 250ms", "poll", "no push endpoint");
    }

    @Test
    void shouldPrintTheVersion()
    {
        final CliRun run = CliRun.vmm("--version");

        assertThat(run.status()).isZero();
        assertThat(run.out()).startsWith("sled-agent ").endsWith("\n");
    }

    @Test
    void shouldRefuseBadUsageWithStatusTwoBeforeAnyRequest()
    {
        assertUsage(List.of(), "missing command", "usage: sled-agent vmm <command>");
        assertUsage(List.of("frobnicate"), "unknown vmm command 'frobnicate'", "usage: sled-agent vmm <command>");
        assertUsage(List.of("get"), "vmm get needs a VMM id", "usage: sled-agent vmm get ID");
        assertUsage(List.of("get", "not-a-uuid"), "not a VMM id (expected a UUID", "usage: sled-agent vmm get ID");
        assertUsage(List.of("stop", "6dd4"), "not a VMM id", "usage: sled-agent vmm stop ID");
        assertUsage(List.of("terminate", "{" + ID + "}"), "not a VMM id", "usage: sled-agent vmm terminate ID");
        assertUsage(List.of("get", ID, ID), "unexpected argument", "usage: sled-agent vmm get ID");
        assertUsage(List.of("list", "extra"), "unexpected argument 'extra' for vmm list", "usage: sled-agent vmm list");
        assertUsage(List.of("list", "--frob"), "unknown option '--frob' for vmm list", "usage: sled-agent vmm list");
        assertUsage(List.of("list", "--interval", "1s"), "--interval is an option of vmm watch", "vmm list");
        assertUsage(List.of("watch", "--interval", "ten"), "--interval: bad duration 'ten'", "vmm watch");
        assertUsage(List.of("watch", "--for", "0s"), "--for: duration must be positive", "vmm watch");
        assertUsage(List.of("watch", "--for"), "--for needs a value", "vmm watch");
        assertUsage(List.of("list", "--json=yes"), "--json takes no value", "vmm list");
        assertUsage(List.of("list", "--agent"), "--agent needs a value", "vmm list");
        assertUsage(List.of("list", "--agent", "ftp://example.com"), "--agent: expected http://HOST:PORT", "vmm list");
        assertUsage(List.of("console"), "vmm console needs a VMM id", "usage: sled-agent vmm console ID");
        assertUsage(List.of("console", "vm1"), "not a VMM id", "usage: sled-agent vmm console ID");
        assertUsage(List.of("get", ID, "--read-only"), "--read-only is an option of vmm console", "vmm get ID");
        assertUsage(List.of("console", ID, "--json"), "vmm console has no --json", "vmm console ID");
        assertUsage(List.of("console", ID, "--read-only=yes"), "--read-only takes no value", "vmm console ID");
    }

    @Test
    void shouldParseTheConsoleCommand()
    {
        final VmmArgs readOnly = VmmArgs.parse(List.of("console", "--read-only", ID));
        assertThat(readOnly.command()).isEqualTo("console");
        assertThat(readOnly.propolisId()).hasToString(ID);
        assertThat(readOnly.readOnly()).isTrue();
        assertThat(VmmArgs.parse(List.of("console", ID)).readOnly()).isFalse();
        assertThat(CliRun.vmm("console", "--help").out()).contains("--read-only", "Ctrl-] (as in telnet) detaches",
            "GET /instance/serial", "propolis_addr");
        assertThat(CliRun.vmm("--help").out()).contains("console ID");
    }

    @Test
    void shouldSayClearlyWhenTheAgentCannotBeReached()
    {
        for (final List<String> args : List.of(List.of("list"), List.of("get", ID), List.of("stop", ID),
            List.of("terminate", ID), List.of("watch", "--for", "1s"), List.of("--json", "list"),
            List.of("console", ID), List.of("console", ID, "--read-only")))
        {
            final List<String> withAgent = new java.util.ArrayList<>(args);
            withAgent.addAll(List.of("--agent", closedAgent));
            final CliRun run = CliRun.vmm(withAgent.toArray(String[]::new));
            assertThat(run.status()).as("%s: %s", args, run).isEqualTo(1);
            assertThat(run.err()).as("%s", args).containsOnlyOnce("sled-agent: cannot reach the agent at "
                + closedAgent + ": ").contains("refused");
            assertThat(run.out()).isEmpty();
        }
        // A bare HOST:PORT means http.
        final CliRun bare = CliRun.vmm("list", "--agent", closedAgent.substring("http://".length()));
        assertThat(bare.status()).isEqualTo(1);
        assertThat(bare.err()).startsWith("sled-agent: cannot reach the agent at " + closedAgent + ": ");
    }

    @Test
    void shouldBeWiredIntoTheMainCommand() throws Exception
    {
        // Main.run is package-private in sledagent.agent; the exit statuses through it are what operators get.
        final Method run = Class.forName("sledagent.agent.Main").getDeclaredMethod("run", String[].class,
            PrintStream.class, PrintStream.class);
        run.setAccessible(true);
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
        final PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);

        assertThat(run.invoke(null, new String[] {"--help"}, outStream, errStream)).isEqualTo(0);
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("  vmm ");
        assertThat(run.invoke(null, new String[] {"vmm", "list", "--help"}, outStream, errStream)).isEqualTo(0);
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("usage: sled-agent vmm list");
        assertThat(run.invoke(null, new String[] {"vmm", "get", "x"}, outStream, errStream)).isEqualTo(2);
        assertThat(run.invoke(null, new String[] {"vmm", "list", "--agent", closedAgent}, outStream, errStream))
            .isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("cannot reach the agent at " + closedAgent);
    }

    private static void assertUsage(final List<String> args, final String message, final String usage)
    {
        final List<String> withAgent = new java.util.ArrayList<>();
        if (!args.contains("--agent"))
        {
            withAgent.addAll(List.of("--agent", closedAgent));
        }
        withAgent.addAll(args);
        final CliRun run = CliRun.vmm(withAgent.toArray(String[]::new));
        assertThat(run.status()).as("%s: %s", args, run).isEqualTo(2);
        assertThat(run.err()).as("%s", args).startsWith("sled-agent: ").contains(message, usage);
        assertThat(run.out()).as("%s", args).isEmpty();
    }
}
