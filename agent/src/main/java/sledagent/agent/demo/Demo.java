package sledagent.agent.demo;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.UUID;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.api.VmmState;
import sledagent.zones.linux.CgroupRoot;

/**
 * {@code sled-agent demo}: the agent with an embedded recording Nexus; registers, runs and stops one real VMM
 * (propolis-sim in a cgroup zone) through the HTTP API, and prints every state Nexus received.
 */
public final class Demo
{
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneOffset.UTC);
    private static final Duration WAIT = Duration.ofSeconds(30);

    private Demo()
    {
    }

    /** Runs the demo; returns the process exit status. */
    public static int run(final PrintStream out, final long stopGraceMs, final boolean sim) throws Exception
    {
        final Path stateDir = Files.createTempDirectory("sled-agent-demo");
        // A zone root of the demo's own, so it never meets another agent's zones.
        final Path zoneRoot = CgroupRoot.agentCgroupDir().resolve("sled-agent-demo-" + ProcessHandle.current().pid());
        final UUID propolisId = UUID.randomUUID();
        final UUID instanceId = UUID.randomUUID();
        final String propolisAddr = "127.0.0.1:" + freePort();
        try (RecordingNexus nexus = new RecordingNexus();
             SledAgent agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                 List.of(nexus.url()), stateDir, stopGraceMs, zoneRoot, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS)))
        {
            final URI agentUrl = URI.create("http://127.0.0.1:" + agent.server().address().getPort());
            final AgentHttpClient client = new AgentHttpClient(agentUrl, Duration.ofSeconds(10));
            out.println("sled-agent at " + agentUrl + ", recording Nexus at " + nexus.url() + ", zones under "
                + zoneRoot);
            final Instant started = Instant.now();
            out.println("PUT    /vmms/" + propolisId + "  -> " + client.register(propolisId,
                ExampleBodies.ensureBody(instanceId, propolisAddr, 1)).status());
            out.println("PUT    /vmms/" + propolisId + "/state running -> "
                + client.putState(propolisId, "running").status());
            awaitPublished(nexus, propolisId, VmmState.RUNNING);
            final long pids = agent.zones().list().size();
            out.println("VMM running: propolis-sim at " + propolisAddr + " in " + pids + " zone(s)");
            out.println("PUT    /vmms/" + propolisId + "/state stopped -> "
                + client.putState(propolisId, "stopped").status());
            awaitPublished(nexus, propolisId, VmmState.DESTROYED);
            awaitGone(client, propolisId);
            out.println("GET    /vmms/" + propolisId + "/state -> " + client.state(propolisId).status()
                + " (the VMM has left the table)");
            out.println("zones left: " + agent.zones().list().size());
            out.println();
            out.println("States received by Nexus (PUT /vmms/" + propolisId + "):");
            out.printf("  %-3s %-12s %-11s %-4s %9s%n", "#", "received", "state", "gen", "+ms");
            int row = 1;
            for (final RecordingNexus.Received received : nexus.received(propolisId))
            {
                out.printf("  %-3d %-12s %-11s %-4d %9d%n", row++, TIME.format(received.at()),
                    received.state().vmmState().state().wireName(), received.state().vmmState().gen(),
                    Duration.between(started, received.at()).toMillis());
            }
            return 0;
        }
        finally
        {
            Files.deleteIfExists(zoneRoot);
        }
    }

    private static void awaitPublished(final RecordingNexus nexus, final UUID propolisId, final VmmState state)
        throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + WAIT.toNanos();
        while (nexus.received(propolisId).stream().noneMatch(r -> r.state().vmmState().state() == state))
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("Nexus did not receive '" + state.wireName() + "' within " + WAIT);
            }
            Thread.sleep(5);
        }
    }

    private static void awaitGone(final AgentHttpClient client, final UUID propolisId) throws Exception
    {
        final long deadlineNs = System.nanoTime() + WAIT.toNanos();
        while (client.state(propolisId).status() != 404)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("VMM still in the table after " + WAIT);
            }
            Thread.sleep(5);
        }
    }

    static int freePort() throws java.io.IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }
}
