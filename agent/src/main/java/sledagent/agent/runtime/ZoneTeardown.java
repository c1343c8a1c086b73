package sledagent.agent.runtime;

import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.vmm.Cancellable;
import sledagent.agent.vmm.Event;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.hypervisor.PropolisClient;
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

    /** DESIGN rule 5: the one look at Propolis before a kill is bounded, whatever Propolis does. */
    static final long LAST_LOOK_MS = 100;

    private final ZoneBackend zones;
    private final PropolisClient client;
    private final RuntimeSettings settings;
    private final Metrics metrics;

    ZoneTeardown(final ZoneBackend zones, final PropolisClient client, final RuntimeSettings settings,
        final Metrics metrics)
    {
        this.zones = zones;
        this.client = client;
        this.settings = settings;
        this.metrics = metrics;
    }

    /**
     * Asks Propolis for its newest state (state-monitor from gen 0 answers at once) within
     * {@link #LAST_LOOK_MS}, and posts it; silence or an error is simply no news.
     */
    private void lastLook(final UUID propolisId, final String addr, final Consumer<Event> post)
        throws InterruptedException
    {
        final CompletableFuture<InstanceStateMonitorResponse> call =
            client.monitor(addr, 0, Duration.ofMillis(LAST_LOOK_MS));
        try
        {
            post.accept(new Event.LastLook(call.get(LAST_LOOK_MS, TimeUnit.MILLISECONDS)));
        }
        catch (final ExecutionException | TimeoutException ex)
        {
            call.cancel(true);
            LOG.fine(() -> "vmm " + propolisId + ": no last look (" + ex + ")");
        }
    }

    /**
     * Kills the zone at once on the caller's thread when nothing must come before the kill (no last look to take,
     * no start sequence still running that could spawn into the zone afterwards) and the backend's kill never
     * waits: the hand-over of the kill to the blocking pool cost 1-5 ms on a busy two-core host (perf/RESULTS.md,
     * issue 14). {@link #run} then kills again (idempotent), waits until the zone is empty and removes it; a
     * failure here is left to it.
     */
    void killAhead(final UUID propolisId, final String lastLookAddr, final Cancellable startJob)
    {
        if (lastLookAddr != null || !startJob.finished().isDone() || !zones.killsAtOnce())
        {
            return;
        }
        try
        {
            final Zone zone = zones.open(ZoneBackend.ZONE_PREFIX + propolisId);
            if (zone != null)
            {
                zones.killAll(zone);
            }
        }
        catch (final ZoneException ex)
        {
            LOG.fine(() -> "vmm " + propolisId + ": kill ahead of the teardown failed (the teardown retries): " + ex);
        }
    }

    Event run(final UUID propolisId, final String lastLookAddr, final Cancellable startJob,
        final ZoneProcess process, final Consumer<Event> post) throws InterruptedException
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
        if (lastLookAddr != null)
        {
            lastLook(propolisId, lastLookAddr, post);
        }
        final String zoneName = ZoneBackend.ZONE_PREFIX + propolisId;
        try
        {
            final Zone zone = zones.open(zoneName);
            if (zone != null && !zones.killAndRemove(zone, Duration.ofMillis(settings.emptyBoundMs())))
            {
                return new Event.ZoneTeardownFailed("zone " + zoneName + " still has processes "
                    + settings.emptyBoundMs() + " ms after the kill");
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
        final long tookNs = System.nanoTime() - startNs;
        metrics.teardown(tookNs);
        final long tookUs = TimeUnit.NANOSECONDS.toMicros(tookNs);
        LOG.info(() -> "vmm " + propolisId + ": zone " + zoneName + " torn down in " + tookUs + " us");
        return new Event.ZoneTornDown();
    }
}
