package sledagent.agent.runtime;

import io.netty.util.Timer;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;

/**
 * Finds zones the agent has no record of (left by an earlier run, or by a start that was cancelled too late)
 * and kills and removes them: at start, then every {@code intervalMs}. A zone whose VMM is known is never
 * touched; a zone that will not come down is reported and tried again next round.
 *
 * <p>Only this agent's zones are swept: a zone marked with another owner token ({@link ZoneBackend#owner}) is
 * left alone, whatever its name (another agent made it: a zone root reached through another path, a second
 * agent misconfigured onto ours). A zone with no mark is swept: earlier agent versions made unmarked zones, an
 * agent killed between creating a zone and marking it leaves one, and backends without marks have only those;
 * the zone-root lock is what keeps a second agent off our root.
 */
public final class ZoneSweeper implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(ZoneSweeper.class.getName());

    private final ZoneBackend zones;
    private final Predicate<UUID> known;
    private final Duration emptyBound;
    private final String owner;
    private final PeriodicJob periodic;
    /** Foreign zones seen by the last sweep: logged only when the count changes. */
    private volatile int lastForeign;

    /**
     * @param known      true for a propolis id the agent has a record of
     * @param emptyBound how long a killed zone may take to empty
     * @param owner      this agent's owner token; zones marked with another are never touched (null: marks are
     *                   not known, only unmarked zones are swept)
     */
    public ZoneSweeper(final ZoneBackend zones, final Predicate<UUID> known, final Duration emptyBound,
        final Timer timer, final ExecutorService pool, final long intervalMs, final String owner)
    {
        this.owner = owner;
        this.zones = zones;
        this.known = known;
        this.emptyBound = emptyBound;
        this.periodic = new PeriodicJob("sweep", timer, pool, intervalMs, this::sweep);
    }

    /** Sweeps once now (on the caller's thread), then every interval on the pool. */
    public int start() throws InterruptedException
    {
        final int removed = sweep();
        periodic.start();
        return removed;
    }

    /** One sweep; returns the number of zones removed. */
    public int sweep() throws InterruptedException
    {
        int removed = 0;
        int failed = 0;
        int foreign = 0;
        for (final String name : zones.list())
        {
            final UUID propolisId = propolisId(name);
            if (propolisId != null && known.test(propolisId))
            {
                continue;
            }
            try
            {
                final Zone zone = zones.open(name);
                if (zone == null)
                {
                    continue;
                }
                final String mark = zones.owner(zone);
                if (mark != null && !mark.equals(owner))
                {
                    foreign++;
                    LOG.fine(() -> "sweep: zone " + name + " belongs to agent " + mark + "; not touched");
                    continue;
                }
                if (!zones.killAndRemove(zone, emptyBound))
                {
                    failed++;
                    LOG.warning(() -> "sweep: zone " + name + " still has processes after " + emptyBound.toMillis()
                        + " ms; will try again");
                    continue;
                }
                removed++;
            }
            catch (final ZoneException ex)
            {
                failed++;
                LOG.log(Level.WARNING, "sweep: cannot remove zone " + name + "; will try again", ex);
            }
        }
        if (removed > 0 || failed > 0)
        {
            final int removedCount = removed;
            final int failedCount = failed;
            LOG.info(() -> "sweep: removed " + removedCount + " zone(s) with no VMM record, " + failedCount
                + " would not come down");
        }
        if (foreign != lastForeign)
        {
            final int foreignCount = foreign;
            LOG.info(() -> "sweep: " + foreignCount + " zone(s) under the zone root belong to another agent (owner "
                + "mark not ours); left alone");
            lastForeign = foreign;
        }
        return removed;
    }

    private static UUID propolisId(final String zoneName)
    {
        try
        {
            return UUID.fromString(zoneName.substring(ZoneBackend.ZONE_PREFIX.length()));
        }
        catch (final IllegalArgumentException | IndexOutOfBoundsException ex)
        {
            return null;
        }
    }

    @Override
    public void close()
    {
        periodic.close();
    }
}
