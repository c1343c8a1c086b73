package sledagent.zones.fake;

import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneBackendContract;
import sledagent.zones.ZoneProcess;

/** The contract on the in-memory fake, whose processes exit when the test says so. */
class FakeZoneBackendContractTest extends ZoneBackendContract
{
    @Override
    protected ZoneBackend newBackend()
    {
        return new FakeZoneBackend();
    }

    @Override
    protected boolean supportsRealProcesses()
    {
        return false;
    }

    @Override
    protected void letExit(final ZoneProcess process)
    {
        ((FakeZoneProcess)process).exit();
    }

    @Override
    protected boolean holdPopulated(final Zone zone, final boolean held)
    {
        ((FakeZoneBackend)backend).willNotEmpty(zone.name(), held);
        return true;
    }

    @Override
    protected boolean supportsAdoption()
    {
        return false; // Zones live only in the backend object: after a restart there is no zone to adopt from.
    }
}
