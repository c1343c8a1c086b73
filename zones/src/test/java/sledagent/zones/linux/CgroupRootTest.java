package sledagent.zones.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;

class CgroupRootTest
{
    private static final Path ROOT = Path.of("/sys/fs/cgroup/unified/agent");
    private final CgroupRoot root = new CgroupRoot(ROOT);

    @Test
    void shouldFindCgroup2MountInHybridMountinfo()
    {
        final List<String> mountinfo = List.of(
            "25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
            "31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
            "42 31 0:39 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory");

        assertThat(CgroupRoot.parseCgroup2Mount(mountinfo))
            .hasValue(new CgroupRoot.Cgroup2Mount(Path.of("/sys/fs/cgroup/unified"), "/"));
    }

    @Test
    void shouldUnescapeMountPointAndReportMissingMount()
    {
        final List<String> mountinfo = List.of("41 31 0:38 /sub /mnt/cg\\040two rw shared:1 - cgroup2 none rw");

        assertThat(CgroupRoot.parseCgroup2Mount(mountinfo))
            .hasValue(new CgroupRoot.Cgroup2Mount(Path.of("/mnt/cg two"), "/sub"));
        assertThat(CgroupRoot.parseCgroup2Mount(List.of("42 31 0:39 / /x rw - cgroup cgroup rw,memory"))).isEmpty();
    }

    @Test
    void shouldParseOwnCgroupAndJoinItToTheMount()
    {
        final List<String> cgroup = List.of("4:memory:/x", "0::/system.slice/sled-agent.service", "1:cpu:/");
        final String own = CgroupRoot.parseOwnCgroup(cgroup);
        final Path unified = Path.of("/sys/fs/cgroup/unified");

        assertThat(own).isEqualTo("/system.slice/sled-agent.service");
        assertThat(CgroupRoot.resolve(new CgroupRoot.Cgroup2Mount(unified, "/"), own))
            .isEqualTo(unified.resolve("system.slice/sled-agent.service"));
        assertThat(CgroupRoot.resolve(new CgroupRoot.Cgroup2Mount(unified, "/"), "/")).isEqualTo(unified);
        assertThat(CgroupRoot.resolve(new CgroupRoot.Cgroup2Mount(unified, "/system.slice"), own))
            .isEqualTo(unified.resolve("sled-agent.service"));
        assertThatThrownBy(() -> CgroupRoot.resolve(new CgroupRoot.Cgroup2Mount(unified, "/user.slice"), own))
            .isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> CgroupRoot.parseOwnCgroup(List.of("4:memory:/x")))
            .isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldResolveZoneNamesDirectlyUnderRoot()
    {
        final String name = ZoneBackend.ZONE_PREFIX + "3f2b6f4e-8c1a-4f7e-9b0d-2a1c5e6f7a8b";

        assertThat(root.zonePath(name)).isEqualTo(ROOT.resolve(name));
        assertThat(root.checkZone(new Zone(name, ROOT.resolve(name)))).isEqualTo(ROOT.resolve(name));
        assertThat(root.checkZone(new Zone(name, ROOT.resolve("a/..").resolve(name)))).isEqualTo(ROOT.resolve(name));
    }

    @Test
    void shouldRefuseBadNames()
    {
        for (final String bad : new String[] {
            "foo", "oxz_propolis-server", ZoneBackend.ZONE_PREFIX, ZoneBackend.ZONE_PREFIX + "a/b",
            ZoneBackend.ZONE_PREFIX + "../x", ZoneBackend.ZONE_PREFIX + "a b", "x" + ZoneBackend.ZONE_PREFIX + "a"})
        {
            assertThatThrownBy(() -> root.zonePath(bad)).as(bad).isInstanceOf(ZoneException.class);
        }
        assertThatThrownBy(() -> root.zonePath(null)).isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldRefusePathsThatAreNotDirectChildrenOfRoot()
    {
        final String name = ZoneBackend.ZONE_PREFIX + "a";
        for (final Path bad : new Path[] {
            ROOT.getParent().resolve(name), ROOT.resolve("sub").resolve(name), ROOT.resolve(name).resolve(name),
            ROOT.resolve(ZoneBackend.ZONE_PREFIX + "b"), ROOT.resolve(name + "/../../" + name),
            Path.of(name), null})
        {
            assertThatThrownBy(() -> root.checkZone(new Zone(name, bad))).as(String.valueOf(bad))
                .isInstanceOf(ZoneException.class);
        }
        assertThatThrownBy(() -> new CgroupRoot(Path.of("relative"))).isInstanceOf(ZoneException.class);
    }
}
