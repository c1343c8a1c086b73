package sledagent.zones.illumos;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.time.Duration;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackendContract;

/**
 * The contract on the illumos backend driving scripted stand-ins of {@code zoneadm}, {@code zonecfg} and
 * {@code zlogin} (see {@link IllumosStandIns}). The programs run for real, one process group per
 * {@code zlogin}, but a zone's emptiness is its simulated state, so process-tree checks are skipped.
 */
class IllumosZoneBackendContractTest extends ZoneBackendContract
{
    private IllumosStandIns standIns;

    @Override
    protected ZoneBackend newBackend() throws Exception
    {
        assumeTrue(Platform.isLinux(), "the stand-ins need Linux's setsid");
        standIns = new IllumosStandIns(tmp.resolve("illumos"));
        return standIns.backend(Duration.ofSeconds(2));
    }

    @Override
    protected boolean supportsRealProcesses()
    {
        return false;
    }

    @Override
    protected boolean emptiesWhenMainExits()
    {
        return false; // The zone stays booted when its program exits.
    }

    @Override
    protected boolean supportsOwnerMarks()
    {
        return false; // Not stored (yet) on illumos: its zones stay unmarked, and the state-dir lock is the guard.
    }

    @Override
    protected void plantForeignZone(final String name) throws Exception
    {
        standIns.addZone(name, "installed");
    }

    @Override
    protected void cleanUp() throws Exception
    {
        if (standIns != null)
        {
            standIns.close();
        }
    }
}
