package sledagent.zones;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import sledagent.zones.fake.FakeZoneBackend;
import sledagent.zones.illumos.IllumosZoneBackend;
import sledagent.zones.linux.CgroupRoot;
import sledagent.zones.linux.CgroupZoneBackend;
import sledagent.zones.pgroup.ProcessGroupZoneBackend;

/**
 * Picks the zone backend once, at start, from the platform, the agent's permissions and a setting, and says
 * why: the agent must log {@link Choice#reason()}.
 *
 * <ul>
 *   <li>{@code auto} (the default): on Linux, {@code linux-cgroup2} if cgroup v2 is mounted and the zone root
 *       under it is writable (checked by creating and removing a probe cgroup), else the weaker
 *       {@code linux-pgroup}; on SunOS (illumos), {@code illumos-zones}.</li>
 *   <li>{@code cgroup}, {@code pgroup}, {@code illumos}, {@code fake}: that backend, no questions asked (a
 *       forced {@code cgroup} that cannot work fails here, loudly).</li>
 * </ul>
 */
public final class ZoneBackends
{
    /** Setting: choose from the platform. */
    public static final String AUTO = "auto";
    /** Setting: {@link CgroupZoneBackend}. */
    public static final String CGROUP = "cgroup";
    /** Setting: {@link ProcessGroupZoneBackend}. */
    public static final String PGROUP = "pgroup";
    /** Setting: {@link IllumosZoneBackend#onThisHost()}. */
    public static final String ILLUMOS = "illumos";
    /** Setting: {@link FakeZoneBackend}, for tests and demos: nothing runs. */
    public static final String FAKE = "fake";

    private ZoneBackends()
    {
    }

    /** The backend chosen and a sentence saying why, for the agent's log. The caller owns (closes) the backend. */
    public record Choice(ZoneBackend backend, String reason)
    {
    }

    /**
     * Chooses a backend for this host.
     *
     * @param setting       {@code auto} (also for null or blank), {@code cgroup}, {@code pgroup}, {@code illumos}
     *                      or {@code fake}; case-insensitive.
     * @param linuxZoneRoot the cgroup v2 directory for Linux zones, or null for the agent's own cgroup
     *                      ({@link CgroupRoot#agentCgroupDir()}).
     * @throws IllegalArgumentException for an unknown setting.
     * @throws ZoneException if a forced backend cannot be built, or {@code auto} finds no backend for this OS.
     */
    public static Choice choose(final String setting, final Path linuxZoneRoot)
    {
        return choose(setting, linuxZoneRoot, System.getProperty("os.name", ""));
    }

    /** {@link #choose(String, Path)} for a given {@code os.name}, so tests can play another OS. */
    static Choice choose(final String setting, final Path linuxZoneRoot, final String osName)
    {
        final String mode = setting == null || setting.isBlank() ? AUTO : setting.strip().toLowerCase(Locale.ROOT);
        switch (mode)
        {
            case AUTO:
                return auto(linuxZoneRoot, osName);
            case CGROUP:
            {
                final CgroupZoneBackend backend = cgroupBackend(linuxZoneRoot);
                try
                {
                    final String kill = backend.probe();
                    return new Choice(backend, "zones setting is '" + CGROUP + "': cgroup v2 zone root " +
                        backend.root() + "; kill by " + kill);
                }
                catch (final ZoneException ex)
                {
                    backend.close();
                    throw ex;
                }
            }
            case PGROUP:
                return processGroups("zones setting is '" + PGROUP + "'");
            case ILLUMOS:
                return new Choice(IllumosZoneBackend.onThisHost(), "zones setting is '" + ILLUMOS +
                    "': zonecfg/zoneadm");
            case FAKE:
                return new Choice(new FakeZoneBackend(), "zones setting is '" + FAKE +
                    "': in-memory zones, no process is ever started");
            default:
                throw new IllegalArgumentException("unknown zones setting '" + setting + "': expected " + AUTO +
                    ", " + CGROUP + ", " + PGROUP + ", " + ILLUMOS + " or " + FAKE);
        }
    }

    private static Choice auto(final Path linuxZoneRoot, final String osName)
    {
        if (osName.startsWith("SunOS"))
        {
            return new Choice(IllumosZoneBackend.onThisHost(), "os is " + osName + ": illumos zones");
        }
        if (!osName.startsWith("Linux"))
        {
            throw new ZoneException("no zone backend for os '" + osName + "'; set zones to '" + FAKE +
                "' to run without one");
        }
        final Optional<CgroupRoot.Cgroup2Mount> mount = CgroupRoot.findCgroup2Mount();
        if (mount.isEmpty())
        {
            return processGroups("no cgroup2 mount in /proc/self/mountinfo");
        }
        final Path root;
        try
        {
            root = linuxZoneRoot != null ? linuxZoneRoot : CgroupRoot.agentCgroupDir();
        }
        catch (final ZoneException ex)
        {
            return processGroups("cannot find the agent's cgroup: " + ex.getMessage());
        }
        if (!root.isAbsolute() || !root.normalize().startsWith(mount.get().mountPoint()))
        {
            return processGroups("zone root " + root + " is not under the cgroup2 mount " +
                mount.get().mountPoint());
        }
        CgroupZoneBackend backend = null;
        try
        {
            backend = new CgroupZoneBackend(root);
            final String kill = backend.probe();
            return new Choice(backend, "cgroup v2 zone root " + backend.root() +
                " is writable (probe cgroup created and removed); kill by " + kill);
        }
        catch (final ZoneException ex)
        {
            if (backend != null)
            {
                backend.close();
            }
            return processGroups("cgroup v2 zone root " + root + " is not usable: " + ex.getMessage());
        }
    }

    private static CgroupZoneBackend cgroupBackend(final Path linuxZoneRoot)
    {
        return linuxZoneRoot != null ? new CgroupZoneBackend(linuxZoneRoot) : CgroupZoneBackend.atAgentCgroup();
    }

    private static Choice processGroups(final String why)
    {
        final ProcessGroupZoneBackend backend = new ProcessGroupZoneBackend();
        return new Choice(backend, why + "; using the WEAKER process-group backend (" + backend.description() +
            "; zones of an earlier agent run are not seen)");
    }
}
