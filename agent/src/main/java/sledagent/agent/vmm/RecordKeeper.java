package sledagent.agent.vmm;

import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;
import sledagent.agent.log.LogContext;
import sledagent.agent.metrics.Metrics;
import sledagent.zones.ZoneProcess;

/**
 * Keeps one VMM's durable record in step with its lifecycle record, for its {@link VmmActor}. A write that fails
 * puts the record <em>behind</em>: it is retried with a bounded back-off until it succeeds, and meanwhile a publish
 * that a restart could not repeat is held back (Nexus must never hear something the disk and the kill journal do
 * not have). Confined to the actor's turns. A write either blocks the turn until it is durable ({@link #write}), or
 * is queued ({@link #writeAhead}: a kill's, or one written behind its effects) and awaited by the next turn that
 * writes, publishes or answers ({@link #awaitPending}), so effects never overtake an earlier record.
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
    /** The newest write queued without waiting for it, or null (writes of one VMM complete in order). */
    private Pending pending;

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
        awaitPending();
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
        final IOException failure = await(store.saveAsync(candidate));
        if (failure != null)
        {
            metrics.recordWriteFailed();
            return failure;
        }
        saved = candidate;
        if (behind)
        {
            caughtUp(record);
        }
        return null;
    }

    /**
     * Keeps {@code kill} in the journal without syncing it, so that the kill may go ahead of its record's write;
     * false if the journal cannot take it (the record must then be written first).
     */
    boolean journalAhead(final KillIntent kill)
    {
        return store.journalKillAhead(propolisId, kill);
    }

    /**
     * Queues a write of {@code record} without waiting for it (after {@link #journalAhead} when {@code journalled});
     * {@code doneTurn} asks the actor for a turn once it completes ({@link #onWriteDone}). Whatever the next turn
     * writes, publishes or answers waits for it first.
     */
    void writeAhead(final VmmRecord record, final ZoneProcess process, final boolean journalled,
        final Runnable doneTurn)
    {
        final StoredVmm candidate = StoredVmm.of(record, process == null ? 0 : process.pid(),
            process == null ? 0 : process.startTicks());
        if (candidate.equals(saved))
        {
            if (journalled && !behind)
            {
                // The record on disk already holds the kill.
                store.settled(propolisId);
            }
            return;
        }
        final CompletableFuture<Void> done = store.saveAsync(candidate);
        saved = candidate;
        pending = new Pending(done, record, journalled);
        done.whenComplete((ignored, ex) -> doneTurn.run());
    }

    /** The actor's turn after a queued write completed: its outcome is handled, if no turn did it yet. */
    void onWriteDone()
    {
        if (pending != null && pending.done().isDone())
        {
            awaitPending();
        }
    }

    /**
     * Waits (bounded) for the write queued by {@link #writeAhead}, if any, and handles its outcome: a kill's
     * journal slot is freed once its record is on disk; a failure puts the record behind, and a kill's slot is
     * synced (from then on the journal, not the record, is what a restart repeats). Returns the failure, or null.
     */
    IOException awaitPending()
    {
        final Pending queued = pending;
        if (queued == null)
        {
            return null;
        }
        pending = null;
        final IOException failure = await(queued.done());
        if (failure == null)
        {
            if (queued.journalled() && !behind)
            {
                store.settled(propolisId);
            }
            return null;
        }
        metrics.recordWriteFailed();
        saved = null;
        if (queued.journalled())
        {
            final boolean kept = store.syncJournal();
            metrics.killWithoutRecord(kept);
            LogContext.log(LOG, Level.WARNING, propolisId, queued.record().gen(), "vmm " + propolisId
                + ": killed although its record cannot be written (" + ApiError.describe(failure) + "); "
                + (kept ? "kept in the kill journal"
                : "NOT journalled durably: a host crash before the record is written may lose it"));
        }
        fellBehind(queued.record(), failure);
        return failure;
    }

    /** The failure of a queued write, or null once it is durable ({@link VmmStore#await}). */
    private static IOException await(final CompletableFuture<Void> write)
    {
        try
        {
            VmmStore.await(write);
            return null;
        }
        catch (final IOException ex)
        {
            return ex;
        }
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
        // Queued after any write still pending (the store applies a VMM's writes in order); not waited for.
        pending = null;
        store.deleteAsync(propolisId).whenComplete((ignored, ex) ->
        {
            if (ex == null)
            {
                store.settled(propolisId);
            }
            else
            {
                // A stale record is harmless: at the next start it finds no zone, and what it publishes then has a
                // generation Nexus already holds; the journal's kills for it are kept until then.
                LOG.warning(() -> "vmm " + propolisId + ": cannot delete its record: " + ex);
            }
        });
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

    /** A write queued by {@link #writeAhead}: its completion, the record it holds, and whether a kill is journalled. */
    private record Pending(CompletableFuture<Void> done, VmmRecord record, boolean journalled)
    {
    }
}
