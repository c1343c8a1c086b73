package sledagent.zones.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import sledagent.zones.Zone;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneNames;

/**
 * The one cgroup directory under which this agent keeps its zones, and the fence around it: every zone path
 * the backend touches must come from {@link #zonePath} or pass {@link #checkZone}, so the agent never writes
 * to a cgroup outside its root.
 *
 * <p>Also finds where cgroup v2 is mounted ({@code /proc/self/mountinfo}) and which cgroup the agent itself
 * is in ({@code /proc/self/cgroup}); a hybrid host mounts v2 at {@code /sys/fs/cgroup/unified}.
 */
public final class CgroupRoot
{
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");
    private static final Path OWN_CGROUP = Path.of("/proc/self/cgroup");

    private final Path dir;

    /**
     * @param dir the zone root: an absolute path of a cgroup v2 directory (it need not exist yet).
     */
    public CgroupRoot(final Path dir)
    {
        if (!dir.isAbsolute())
        {
            throw new ZoneException("zone root must be an absolute path: " + dir);
        }
        this.dir = dir.normalize();
    }

    /** The zone root directory. */
    public Path dir()
    {
        return dir;
    }

    /**
     * The cgroup directory of zone {@code zoneName}.
     *
     * @throws ZoneException unless the name passes {@link ZoneNames#check}.
     */
    public Path zonePath(final String zoneName)
    {
        checkName(zoneName);
        return dir.resolve(zoneName);
    }

    /**
     * The zone's directory, after checking that it is exactly {@code <root>/<name>}.
     *
     * @throws ZoneException for a bad name, a missing path, or any path that is not a direct child of the root.
     */
    public Path checkZone(final Zone zone)
    {
        final Path expected = zonePath(zone.name());
        final Path actual = zone.path();
        if (actual == null || !actual.isAbsolute() || !actual.normalize().equals(expected))
        {
            throw new ZoneException("refusing zone " + zone.name() + " at " + actual +
                ": not a direct child of the zone root " + dir);
        }
        return expected;
    }

    /**
     * Where cgroup v2 is mounted, with the cgroup path (as {@code /proc/self/cgroup} shows it) of that mount's
     * root: {@code /} unless the mount is of a subtree.
     */
    public record Cgroup2Mount(Path mountPoint, String root)
    {
    }

    /** The first cgroup2 mount in {@code /proc/self/mountinfo}, if any. */
    public static Optional<Cgroup2Mount> findCgroup2Mount()
    {
        return parseCgroup2Mount(readLines(MOUNTINFO));
    }

    /** This process's cgroup v2 path, e.g. {@code /} or {@code /system.slice/sled-agent.service}. */
    public static String ownCgroupPath()
    {
        return parseOwnCgroup(readLines(OWN_CGROUP));
    }

    /**
     * The agent's own cgroup directory, {@code <cgroup2 mount>/<own cgroup path>}: the default zone root.
     * Tests must not use it directly; they pass a unique subdirectory of it instead.
     *
     * @throws ZoneException if cgroup v2 is not mounted or the agent's cgroup is not under the mount.
     */
    public static Path agentCgroupDir()
    {
        final Cgroup2Mount mount = findCgroup2Mount()
            .orElseThrow(() -> new ZoneException("no cgroup2 mount in " + MOUNTINFO));
        return resolve(mount, ownCgroupPath());
    }

    /** Joins a mount and a cgroup path; the path must lie under the mount's root. */
    static Path resolve(final Cgroup2Mount mount, final String cgroupPath)
    {
        final String root = mount.root();
        String relative;
        if ("/".equals(root))
        {
            relative = cgroupPath;
        }
        else if (cgroupPath.equals(root) || cgroupPath.startsWith(root + "/"))
        {
            relative = cgroupPath.substring(root.length());
        }
        else
        {
            throw new ZoneException("cgroup " + cgroupPath + " is not under the cgroup2 mount root " + root +
                " at " + mount.mountPoint());
        }
        while (relative.startsWith("/"))
        {
            relative = relative.substring(1);
        }
        final Path resolved = mount.mountPoint().resolve(relative).normalize();
        if (!resolved.startsWith(mount.mountPoint()))
        {
            throw new ZoneException("cgroup " + cgroupPath + " escapes the cgroup2 mount " + mount.mountPoint());
        }
        return resolved;
    }

    /**
     * Parses mountinfo lines ({@code id parent maj:min root mountpoint opts [optional...] - fstype src opts}).
     */
    static Optional<Cgroup2Mount> parseCgroup2Mount(final List<String> lines)
    {
        for (final String line : lines)
        {
            final String[] fields = line.split(" ");
            int separator = -1;
            for (int i = 6; i < fields.length; i++)
            {
                if ("-".equals(fields[i]))
                {
                    separator = i;
                    break;
                }
            }
            if (separator < 0 || separator + 1 >= fields.length || !"cgroup2".equals(fields[separator + 1]))
            {
                continue;
            }
            return Optional.of(new Cgroup2Mount(Path.of(unescape(fields[4])), unescape(fields[3])));
        }
        return Optional.empty();
    }

    /** Parses {@code /proc/self/cgroup} lines; the v2 entry is {@code 0::<path>}. */
    static String parseOwnCgroup(final List<String> lines)
    {
        for (final String line : lines)
        {
            if (line.startsWith("0::"))
            {
                return line.substring(3);
            }
        }
        throw new ZoneException("no cgroup v2 entry (0::) in " + OWN_CGROUP);
    }

    private static void checkName(final String zoneName)
    {
        ZoneNames.check(zoneName);
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static String unescape(final String field)
    {
        if (field.indexOf('\\') < 0)
        {
            return field;
        }
        final StringBuilder out = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++)
        {
            final char c = field.charAt(i);
            if (c == '\\' && isOctal(field, i + 1))
            {
                out.append((char)Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            }
            else
            {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean isOctal(final String s, final int from)
    {
        if (from + 3 > s.length())
        {
            return false;
        }
        for (int i = from; i < from + 3; i++)
        {
            final char c = s.charAt(i);
            if (c < '0' || c > '7')
            {
                return false;
            }
        }
        return true;
    }

    private static List<String> readLines(final Path file)
    {
        try
        {
            return Files.readAllLines(file);
        }
        catch (final IOException ex)
        {
            throw new ZoneException("cannot read " + file, ex);
        }
    }

    @Override
    public String toString()
    {
        return "CgroupRoot[" + dir + "]";
    }
}
