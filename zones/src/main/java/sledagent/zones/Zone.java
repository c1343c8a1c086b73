package sledagent.zones;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A named zone. {@code path} is where the backend keeps it (a cgroup directory on Linux, the zonepath on
 * illumos, null for the fake).
 */
public record Zone(String name, Path path)
{
    public Zone
    {
        Objects.requireNonNull(name, "name");
    }
}
