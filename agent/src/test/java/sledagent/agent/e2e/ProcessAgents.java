package sledagent.agent.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import sledagent.agent.demo.RecordingNexus;
import sledagent.zones.linux.CgroupRoot;

/**
 * What a test that runs the agent as a separate process sets up, and takes down whatever happens: a work directory
 * (state dirs, logs), a zone root under the test's cgroup (zone roots below it for tests that need several), a
 * recording Nexus, and the agents started through it. Closing kills the agents, stops Nexus, kills and removes every
 * zone, and deletes the work directory, in that order.
 */
final class ProcessAgents implements AutoCloseable
{
    private final Path work;
    private final Path zoneRoot;
    private final RecordingNexus nexus;
    private final List<AgentProcess> agents = new ArrayList<>();
    private final List<Path> subRoots = new ArrayList<>();

    /** {@code name} prefixes the work directory. */
    ProcessAgents(final String name) throws Exception
    {
        this.work = Files.createTempDirectory("sled-" + name);
        this.zoneRoot = CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
        this.nexus = new RecordingNexus();
    }

    Path work()
    {
        return work;
    }

    Path zoneRoot()
    {
        return zoneRoot;
    }

    /** A zone root of its own below the test's, removed with it. */
    Path zoneRoot(final String name)
    {
        final Path root = zoneRoot.resolve(name);
        subRoots.add(root);
        return root;
    }

    RecordingNexus nexus()
    {
        return nexus;
    }

    /** Starts {@code serve} on {@code stateDir} and {@code root}, logging to {@code logName} in the work dir. */
    AgentProcess start(final Path stateDir, final Path root, final String stopGrace, final String logName,
        final String... extra) throws Exception
    {
        final AgentProcess agent = AgentProcess.start(nexus.url(), stateDir, root, stopGrace, work.resolve(logName),
            extra);
        agents.add(agent);
        return agent;
    }

    /** Starts {@code serve} on the work dir's {@code state} and the test's zone root. */
    AgentProcess start(final String stopGrace, final String... extra) throws Exception
    {
        return start(work.resolve("state"), zoneRoot, stopGrace, "agent-" + (agents.size() + 1) + ".log", extra);
    }

    @Override
    public void close() throws Exception
    {
        try
        {
            for (final AgentProcess agent : agents)
            {
                agent.close();
            }
        }
        finally
        {
            try
            {
                nexus.close();
            }
            finally
            {
                try
                {
                    for (final Path root : subRoots)
                    {
                        AgentFixture.removeZones(root);
                    }
                    AgentFixture.removeZones(zoneRoot);
                    Files.deleteIfExists(zoneRoot);
                }
                finally
                {
                    deleteTree(work);
                }
            }
        }
    }

    private static void deleteTree(final Path root) throws IOException
    {
        if (!Files.exists(root))
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(root))
        {
            for (final Path path : paths.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
