package sledagent.zones;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.zones.fake.FakeZoneBackend;
import sledagent.zones.illumos.IllumosZoneBackend;
import sledagent.zones.linux.CgroupZoneBackend;
import sledagent.zones.linux.TestCgroups;
import sledagent.zones.pgroup.ProcessGroupZoneBackend;

class ZoneBackendsTest
{
    @TempDir
    Path tmp;

    private final List<ZoneBackend> chosen = new ArrayList<>();
    private Path cgroupRoot;

    @AfterEach
    void tearDown() throws Exception
    {
        chosen.forEach(ZoneBackend::close);
        if (cgroupRoot != null)
        {
            TestCgroups.removeAll(cgroupRoot);
        }
    }

    @Test
    void shouldChooseCgroupOnLinuxWhenZoneRootIsWritableAndLeaveNoProbeBehind() throws Exception
    {
        assumeTrue(TestCgroups.available(), "needs root and a writable cgroup v2 mount");
        cgroupRoot = TestCgroups.uniqueRoot();

        final ZoneBackends.Choice choice = choose("auto", cgroupRoot, "Linux");

        assertThat(choice.backend()).isInstanceOf(CgroupZoneBackend.class);
        assertThat(choice.reason()).contains(cgroupRoot.toString(), "writable", "cgroup.kill");
        try (Stream<Path> children = Files.list(cgroupRoot))
        {
            assertThat(children.filter(Files::isDirectory)).isEmpty();
        }
    }

    @Test
    void shouldFallBackToProcessGroupsWhenZoneRootIsNotCgroupV2()
    {
        assumeTrue(Platform.isLinux(), "Linux only");

        final ZoneBackends.Choice choice = choose(null, tmp, "Linux");

        assertThat(choice.backend()).isInstanceOf(ProcessGroupZoneBackend.class);
        assertThat(choice.reason()).contains(tmp.toString(), "not under the cgroup2 mount", "WEAKER",
            "session and process group per VMM");
    }

    @Test
    void shouldChooseIllumosOnSunOsWithoutRunningAnything()
    {
        final ZoneBackends.Choice choice = choose("AUTO", null, "SunOS");

        assertThat(choice.backend()).isInstanceOf(IllumosZoneBackend.class);
        assertThat(choice.reason()).contains("SunOS");
    }

    @Test
    void shouldHonourForcedSettings()
    {
        assumeTrue(Platform.isLinux(), "pgroup needs Linux");

        assertThat(choose(" fake ", null, "Linux").backend()).isInstanceOf(FakeZoneBackend.class);
        assertThat(choose("pgroup", null, "Linux").reason()).contains("zones setting is 'pgroup'");
        assertThat(choose("illumos", null, "Linux").backend()).isInstanceOf(IllumosZoneBackend.class);
        assertThatThrownBy(() -> choose("cgroup", tmp.resolve("not-cgroup"), "Linux"))
            .isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldRefuseUnknownSettingAndUnknownOs()
    {
        assertThatThrownBy(() -> choose("docker", null, "Linux"))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("unknown zones setting 'docker'");
        assertThatThrownBy(() -> choose("auto", null, "Windows 11"))
            .isInstanceOf(ZoneException.class)
            .hasMessageContaining("Windows 11");
    }

    private ZoneBackends.Choice choose(final String setting, final Path root, final String os)
    {
        final ZoneBackends.Choice choice = ZoneBackends.choose(setting, root, os);
        chosen.add(choice.backend());
        return choice;
    }
}
