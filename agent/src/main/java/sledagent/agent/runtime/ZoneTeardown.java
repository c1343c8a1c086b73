package sledagent.agent.runtime;

import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;
import sledagent.agent.vmm.Cancellable;
import sledagent.agent.vmm.Event;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * Kill the zone, wait (bounded) until it is empty, remove it. Safe to repeat. The start sequence is stopped
 * first, so that it cannot spawn into a zone that is being removed.
 */
final class ZoneTeardown
{
    private static final Logger LOG = Logger.getLogger(ZoneTeardown.class.getName());
    /** How long a cancelled start sequence may take to notice (it is interrupted; spawning is quick). */
    private static final long START_STOP_BOUND_MS = 5_000;

    private final ZoneBackend zones;
    private final RuntimeSettings settings;

    ZoneTeardown(final ZoneBackend zones, final RuntimeSettings settings)
    {
        this.zones = zones;
        this.settings = settings;
    }

    Event run(final UUID propolisId, final Cancellable startJob, final ZoneProcess process)
        throws InterruptedException
    {
        final long startNs = System.nanoTime();
        startJob.cancel();
        try
        {
            startJob.finished().get(START_STOP_BOUND_MS, TimeUnit.MILLISECONDS);
        }
        catch (final TimeoutException ex)
        {
            LOG.warning(() -> "vmm " + propolisId + ": start sequence still running after "
                + START_STOP_BOUND_MS + " ms; killing the zone anyway");
        }
        catch (final ExecutionException ex)
        {
            // The start sequence's own failure is not the teardown's concern.
        }
        final String zoneName = ZoneBackend.ZONE_PREFIX + propolisId;
        try
        {
            final Zone zone = zones.open(zoneName);
            if (zone != null)
            {
                zones.killAll(zone);
                if (!zones.awaitEmpty(zone, Duration.ofMillis(settings.emptyBoundMs())))
                {
                    return new Event.ZoneTeardownFailed("zone " + zoneName + " still has processes "
                        + settings.emptyBoundMs() + " ms after the kill");
                }
                zones.destroy(zone);
            }
        }
        catch (final ZoneException ex)
        {
            return new Event.ZoneTeardownFailed(ex.getMessage());
        }
        if (process != null)
        {
            process.close();
        }
        final long tookUs = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - startNs);
        LOG.info(() -> "vmm " + propolisId + ": zone " + zoneName + " torn down in " + tookUs + " us");
        return new Event.ZoneTornDown();
    }
}
