package sledagent.perf;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import sledagent.agent.config.AgentConfig;
import sledagent.agent.core.SledAgent;
import sledagent.zones.linux.CgroupRoot;

/** The agent under load in this JVM, and the files and threads the scenarios share. */
final class LoadAgent
{
    private LoadAgent()
    {
    }

    static SledAgent launchAgent(final Path stateDir, final String zones, final Path zoneRoot, final List<URI> nexus)
        throws Exception
    {
        return SledAgent.launch(new AgentConfig(new InetSocketAddress("127.0.0.1", 0), nexus, stateDir,
            AgentConfig.DEFAULT_STOP_GRACE_MS, zoneRoot, UUID.randomUUID(), AgentConfig.DEFAULT_START_TIMEOUT_MS,
            zones, AgentConfig.DEFAULT_SWEEP_INTERVAL_MS));
    }

    static InetSocketAddress loopback(final SledAgent agent)
    {
        return new InetSocketAddress("127.0.0.1", agent.server().address().getPort());
    }

    /** A fresh state directory on tmpfs ({@code /dev/shm}; the JVM's temp dir if there is none), removed at the end. */
    static Path tmpfsDir(final Cleanup undo) throws IOException
    {
        final Path shm = Path.of("/dev/shm");
        final Path parent = Files.isDirectory(shm) && Files.isWritable(shm) ? shm
            : Path.of(System.getProperty("java.io.tmpdir"));
        final Path dir = Files.createTempDirectory(parent, "sledperf-state");
        undo.push("remove state dir " + dir, () -> PerfZones.deleteTree(dir));
        return dir;
    }

    static Path writePaths(final Path file, final List<UUID> ids) throws IOException
    {
        Files.createDirectories(file.getParent());
        Files.write(file, ids.stream().map(id -> "/vmms/" + id + "/state").toList());
        return file;
    }

    static List<String> readLines(final Path file)
    {
        try
        {
            return Files.readAllLines(file);
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException("cannot read " + file, ex);
        }
    }

    static List<Path> leftoverRoots()
    {
        try (Stream<Path> dirs = Files.list(CgroupRoot.agentCgroupDir()))
        {
            return dirs.filter(p -> p.getFileName().toString().startsWith("sledperf-")).toList();
        }
        catch (final IOException | RuntimeException ex)
        {
            return List.of();
        }
    }

    static java.util.concurrent.ThreadFactory daemon(final String prefix)
    {
        final AtomicInteger count = new AtomicInteger();
        return runnable ->
        {
            final Thread thread = new Thread(runnable, prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }
}
