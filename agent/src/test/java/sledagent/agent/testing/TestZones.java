package sledagent.agent.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;

/** Zone roots of the tests' own, and their removal (every zone killed, emptied and removed), even after a failure. */
public final class TestZones
{
    private TestZones()
    {
    }

    /** A fresh zone root under the agent's cgroup, named so the build's leak check recognises it. */
    public static Path uniqueRoot()
    {
        return CgroupRoot.agentCgroupDir().resolve("sledtest-" + UUID.randomUUID());
    }

    /** Kills and removes every zone under {@code root}, then the root itself. */
    public static void removeAll(final Path root) throws InterruptedException
    {
        if (!Files.isDirectory(root))
        {
            return;
        }
        final List<String> standing;
        try (CgroupZoneBackend zones = new CgroupZoneBackend(root))
        {
            standing = zones.killAndRemoveAll(Duration.ofSeconds(5));
        }
        if (!standing.isEmpty())
        {
            throw new IllegalStateException("test zones still standing 5 s after their kill: " + standing);
        }
        try
        {
            Files.deleteIfExists(root);
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException("cannot remove test zone root " + root, ex);
        }
    }
}
