package sledagent.zones.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackendContract;

/** The contract on real cgroups and processes (needs root and cgroup v2), killing through {@code cgroup.kill}. */
class CgroupZoneBackendContractTest extends ZoneBackendContract
{
    protected Path root;

    @Override
    protected ZoneBackend newBackend()
    {
        assumeTrue(TestCgroups.available(), "needs root and a writable cgroup v2 mount");
        root = TestCgroups.uniqueRoot();
        return new CgroupZoneBackend(root, useCgroupKill());
    }

    /** False in the subclass that exercises the freeze fallback. */
    protected boolean useCgroupKill()
    {
        return true;
    }

    @Override
    protected void plantForeignZone(final String name) throws Exception
    {
        Files.createDirectory(root.resolve(name));
    }

    @Override
    protected void cleanUp() throws Exception
    {
        if (root != null)
        {
            TestCgroups.removeAll(root);
            assertThat(root).doesNotExist();
        }
    }
}
