package sledagent.agent.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import sledagent.zones.Zone;
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
        try (CgroupZoneBackend zones = new CgroupZoneBackend(root))
        {
            for (final String name : zones.list())
            {
                final Zone zone = zones.open(name);
                if (zone != null)
                {
                    zones.killAll(zone);
                    zones.awaitEmpty(zone, Duration.ofSeconds(5));
                    zones.destroy(zone);
                }
            }
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
