package sledagent.agent.vmm;

import java.io.IOException;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.log.LogContext;
import sledagent.agent.metrics.Metrics;
import sledagent.zones.ZoneProcess;

/**
 * Keeps one VMM's durable record in step with its lifecycle record, for its {@link VmmActor}. A write that fails
 * puts the record <em>behind</em>: it is retried with a bounded back-off until it succeeds, and meanwhile a publish
 * that a restart could not repeat is held back (Nexus must never hear something the disk and the kill journal do
 * not have). Confined to the actor's turns; the writes block (temp file, fsync, rename) on the actor's pool thread.
 */
final class RecordKeeper
{
    private static final Logger LOG = Logger.getLogger(RecordKeeper.class.getName());
    /** Back-off of a record write that failed: 100 ms doubling up to 5 s, for as long as it fails. */
    private static final long RETRY_FIRST_MS = 100;
    private static final long RETRY_MAX_MS = 5_000;

    private final UUID propolisId;
    private final VmmStore store;
    private final VmmDriver driver;
    private final Metrics metrics;
    /** Asks the actor for a {@link #retry} turn (the retry must run on the actor, not on the timer thread). */
    private final Runnable retryTurn;
    /** What the store holds for this VMM; a difference means a write is due. */
    private StoredVmm saved;
    private boolean behind;
    private int attempts;
    private boolean retryPending;
    private Cancellable retry = Cancellable.NONE;
    /** The newest state whose publish is held back while the record is behind, or null. */
    private Runnable heldPublish;

    RecordKeeper(final UUID propolisId, final VmmStore store, final StoredVmm saved, final VmmDriver driver,
        final Metrics metrics, final Runnable retryTurn)
    {
        this.propolisId = propolisId;
        this.store = store;
        this.saved = saved;
        this.driver = driver;
        this.metrics = metrics;
        this.retryTurn = retryTurn;
    }

    /** The record could not be written (not yet caught up). */
    boolean behind()
    {
        return behind;
    }

    /**
     * Writes {@code record} (with the identity of its zone's main {@code process}, may be null) if it differs from
     * what is stored, and puts it behind if that fails; returns the failure, or null.
     */
    IOException save(final VmmRecord record, final ZoneProcess process)
    {
        final IOException failure = write(record, process);
        if (failure != null)
        {
            fellBehind(record, failure);
        }
        return failure;
    }

    /**
     * Tries to write {@code record} if it differs from what is stored; returns the failure, or null. A failure
     * changes nothing here: the caller either refuses what led to it or calls {@link #fellBehind}.
     */
    IOException write(final VmmRecord record, final ZoneProcess process)
    {
        final StoredVmm candidate = StoredVmm.of(record, process == null ? 0 : process.pid(),
            process == null ? 0 : process.startTicks());
        if (candidate.equals(saved))
        {
            if (behind)
            {
                caughtUp(record);
            }
            return null;
        }
        try
        {
            store.save(candidate);
            saved = candidate;
        }
        catch (final IOException ex)
        {
            metrics.recordWriteFailed();
            return ex;
        }
        if (behind)
        {
            caughtUp(record);
        }
        return null;
    }

    /** Keeps a kill whose record could not be written in the journal; true if it is kept. */
    boolean journal(final KillIntent kill)
    {
        final boolean journalled = store.journalKill(propolisId, kill);
        metrics.killWithoutRecord(journalled);
        return journalled;
    }

    /**
     * Publishes through {@code publish} now, or, if the record is behind and {@code mayWait}, once it is written
     * (only the newest held publish is kept: the publisher sends the newest state anyway).
     */
    void publish(final boolean mayWait, final Runnable publish)
    {
        if (behind && mayWait)
        {
            heldPublish = publish;
            return;
        }
        heldPublish = null;
        publish.run();
    }

    /** The retry's turn on the actor: write {@code record} again (a failure schedules the next try). */
    void retry(final VmmRecord record, final ZoneProcess process)
    {
        retryPending = false;
        if (behind)
        {
            save(record, process);
        }
    }

    /** The VMM left the table: its record goes, with anything the journal held for it. */
    void delete()
    {
        retry.cancel();
        heldPublish = null;
        if (behind)
        {
            behind = false;
            metrics.recordBehind(false);
        }
        try
        {
            store.delete(propolisId);
            store.settled(propolisId);
        }
        catch (final IOException ex)
        {
            // A stale record is harmless: at the next start it finds no zone, and what it publishes then has a
            // generation Nexus already holds; the journal's kills for it are kept until then.
            LOG.warning(() -> "vmm " + propolisId + ": cannot delete its record: " + ex);
        }
    }

    /** Stops retrying (the actor is being dropped). */
    void abandon()
    {
        retry.cancel();
    }

    /** {@code record} could not be written: retry it (bounded back-off) until it can, and say so once. */
    void fellBehind(final VmmRecord record, final IOException cause)
    {
        if (!behind)
        {
            behind = true;
            metrics.recordBehind(true);
            LogContext.log(LOG, Level.SEVERE, propolisId, record.gen(), "vmm " + propolisId
                + ": cannot persist its record (" + ApiError.describe(cause) + "); retrying until it can");
        }
        if (!retryPending)
        {
            scheduleRetry();
        }
    }

    private void scheduleRetry()
    {
        retryPending = true;
        attempts++;
        final long delayMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS << Math.min(10, attempts - 1));
        retry = driver.later(delayMs, retryTurn);
    }

    /** The record is on disk again: the journal's kills are in it, and what was held back may be published. */
    private void caughtUp(final VmmRecord record)
    {
        behind = false;
        attempts = 0;
        retryPending = false;
        retry.cancel();
        retry = Cancellable.NONE;
        metrics.recordBehind(false);
        store.settled(propolisId);
        LogContext.log(LOG, Level.INFO, propolisId, record.gen(), "vmm " + propolisId + ": record written again");
        final Runnable held = heldPublish;
        heldPublish = null;
        if (held != null)
        {
            held.run();
        }
    }
}
