package sledagent.zones.pgroup;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackendContract;

/**
 * The contract on real processes with the process-group backend, as {@code auto} would build it (here, as root,
 * with a PID namespace per main process: that is what makes a {@code setsid} child die with its zone).
 */
class ProcessGroupZoneBackendContractTest extends ZoneBackendContract
{
    @Override
    protected ZoneBackend newBackend()
    {
        assumeTrue(Platform.isLinux(), "Linux only");
        final ProcessGroupZoneBackend created = new ProcessGroupZoneBackend();
        if (!created.usesPidNamespace())
        {
            created.close();
            assumeTrue(false, "unshare --pid is not permitted here: " + created.description());
        }
        return created;
    }

    @Override
    protected boolean supportsAdoption()
    {
        return false; // Zones live only in the backend object: after a restart there is no zone to adopt from.
    }
}
