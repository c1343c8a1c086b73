package sledagent.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.agent.demo.AgentHttpClient;
import sledagent.agent.demo.ExampleBodies;
import sledagent.agent.demo.RecordingNexus;
import sledagent.zones.linux.CgroupRoot;

/** A real agent in-process on a zone root of its own; {@link #close()} removes its zones even after a failure. */
final class TestAgent implements AutoCloseable
{
    final Path zoneRoot;
    final Path stateDir;
    final SledAgent agent;
    final AgentHttpClient client;
    final String url;
    /** Null unless made by {@link #withRefusingNexus()}. */
    final RecordingNexus nexus;

    /** An agent with no Nexus: a terminal state is settled at once, so the VMM leaves the table at once. */
    TestAgent() throws Exception
    {
        this(null);
    }

    private TestAgent(final RecordingNexus nexus) throws Exception
    {
        this.nexus = nexus;
        zoneRoot = CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
        stateDir = Files.createTempDirectory("sled-agent-cli-test");
        try
        {
            agent = SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0),
                nexus == null ? List.of() : List.of(nexus.url()), stateDir, 60_000, zoneRoot, UUID.randomUUID(),
                10_000));
        }
        catch (final Exception | Error ex)
        {
            if (nexus != null)
            {
                nexus.close();
            }
            sledagent.agent.testing.TestZones.removeAll(zoneRoot);
            deleteTree(stateDir);
            throw ex;
        }
        url = "http://127.0.0.1:" + agent.server().address().getPort();
        client = new AgentHttpClient(URI.create(url), Duration.ofSeconds(10));
    }

    /**
     * An agent whose Nexus answers every publish with 503: a destroyed VMM stays in the table (destroyed)
     * until it is unregistered, so a poll can see the change.
     */
    static TestAgent withRefusingNexus() throws Exception
    {
        final RecordingNexus refusing = new RecordingNexus();
        refusing.respondWith(503);
        return new TestAgent(refusing);
    }

    /** Registers a VMM (nothing is spawned until it is asked to run) and returns its propolis id. */
    UUID register(final UUID propolisId, final UUID instanceId) throws Exception
    {
        final AgentHttpClient.Answer answer =
            client.register(propolisId, ExampleBodies.ensureBody(instanceId, "127.0.0.1:12400", 1));
        assertThat(answer.status()).as("register: %s", answer.body()).isEqualTo(200);
        return propolisId;
    }

    @Override
    public void close() throws Exception
    {
        try
        {
            agent.close();
        }
        finally
        {
            try
            {
                if (nexus != null)
                {
                    nexus.close();
                }
            }
            finally
            {
                sledagent.agent.testing.TestZones.removeAll(zoneRoot);
                deleteTree(stateDir);
            }
        }
    }

    private static void deleteTree(final Path dir) throws IOException
    {
        if (!Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path path : paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
