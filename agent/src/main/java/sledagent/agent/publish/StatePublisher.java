package sledagent.agent.publish;

import io.netty.util.Timeout;
import io.netty.util.Timer;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.retry.Backoff;
import sledagent.agent.vmm.Event;
import sledagent.api.SledVmmState;

/**
 * Sends each VMM's newest state to Nexus. Per VMM at most one request is in flight and only the newest state is
 * kept to send: a state that is superseded before it goes out is never sent, so Nexus sees generations in
 * order. Connection errors and 5xx are retried forever with {@link Backoff#PUBLISH} (moving to the next Nexus
 * URL each time); 4xx is permanent: logged and dropped. Never blocks the caller. When a generation is done
 * with (acknowledged or refused for good) the VMM's actor is told, so it can leave the table only after its
 * terminal state is out.
 *
 * <p>Catch-up after an outage: per-VMM back-off grows to minutes while Nexus is down, so on its own each VMM
 * would notice Nexus is back only at its next retry. Instead, any answer from Nexus (2xx or 4xx) wakes every VMM
 * waiting in back-off: its back-off is reset and its retry moved to within {@link #WAKE_WINDOW_MS}, at most
 * {@link #WAKE_BATCH} every {@link #WAKE_STEP_MS} (about 1,600 a second), so a recovering Nexus sees a bounded
 * ramp, not all of them at once. So that Nexus's return is noticed at all while every VMM waits minutes, one
 * waiting VMM is retried early (a probe) whenever no attempt went out for {@link #PROBE_INTERVAL_MS}: one
 * request a second during an outage. Newest-state-only and one request in flight per VMM are unchanged.
 */
public final class StatePublisher implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(StatePublisher.class.getName());

    private final NexusClient nexus;
    private final Timer timer;
    private final Metrics metrics;
    /** Woken retries are spread: this many per step. */
    static final int WAKE_BATCH = 32;
    /** Woken retries are spread: one batch every this many ms. */
    static final long WAKE_STEP_MS = 20;
    /** A retry due sooner than this is left as it is; wake-ups are at most this often. */
    static final long WAKE_WINDOW_MS = 100;
    /** While VMMs back off, an attempt goes out at least this often. */
    static final long PROBE_INTERVAL_MS = 1_000;

    private final Map<UUID, Slot> slots = new ConcurrentHashMap<>();
    private final Backoff backoff;
    /** VMMs whose retry is scheduled after a failure (not yet fired). */
    private final AtomicInteger backingOff = new AtomicInteger();
    private final AtomicLong lastWakeNs = new AtomicLong(System.nanoTime() - TimeUnit.SECONDS.toNanos(1));
    private volatile long lastAttemptNs = System.nanoTime();
    private final AtomicBoolean probeArmed = new AtomicBoolean();
    private volatile boolean closed;

    public StatePublisher(final NexusClient nexus, final Timer timer, final Metrics metrics)
    {
        this(nexus, timer, metrics, Backoff.PUBLISH);
    }

    /** As above with another retry policy (tests shorten it). */
    public StatePublisher(final NexusClient nexus, final Timer timer, final Metrics metrics, final Backoff backoff)
    {
        this.nexus = nexus;
        this.timer = timer;
        this.metrics = metrics;
        this.backoff = backoff;
    }

    /** Age in ms of the oldest state not yet acknowledged (0 when nothing is waiting). */
    public long oldestLagMs()
    {
        final long nowNs = System.nanoTime();
        long oldestNs = nowNs;
        for (final Slot slot : slots.values())
        {
            synchronized (slot)
            {
                if (slot.waitingSinceNs != 0 && slot.waitingSinceNs - oldestNs < 0)
                {
                    oldestNs = slot.waitingSinceNs;
                }
            }
        }
        return TimeUnit.NANOSECONDS.toMillis(nowNs - oldestNs);
    }

    /** Queues {@code state} for {@code propolisId}; {@code post} receives {@link Event.PublishSettled}. */
    public void publish(final UUID propolisId, final SledVmmState state, final Consumer<Event> post)
    {
        if (!nexus.configured())
        {
            LOG.info(() -> "vmm " + propolisId + ": state " + state.vmmState().state().wireName() + " gen "
                + state.vmmState().gen() + " (no upstream configured)");
            post.accept(new Event.PublishSettled(state.vmmState().gen()));
            return;
        }
        while (true)
        {
            final Slot slot = slots.computeIfAbsent(propolisId, id -> new Slot(id));
            final SledVmmState toSend;
            synchronized (slot)
            {
                if (slot.retired)
                {
                    continue;
                }
                if (slot.latest != null && slot.latest.vmmState().gen() >= state.vmmState().gen())
                {
                    return;
                }
                slot.latest = state;
                slot.post = post;
                if (slot.waitingSinceNs == 0)
                {
                    slot.waitingSinceNs = System.nanoTime();
                }
                if (slot.inFlight)
                {
                    return;
                }
                slot.inFlight = true;
                toSend = state;
            }
            send(slot, toSend);
            return;
        }
    }

    /** Drops whatever is still queued or being retried for {@code propolisId}. */
    public void forget(final UUID propolisId)
    {
        final Slot slot = slots.remove(propolisId);
        if (slot != null)
        {
            synchronized (slot)
            {
                slot.forgotten = true;
            }
        }
    }

    /** VMMs with a state not yet acknowledged. */
    public int pending()
    {
        return slots.size();
    }

    private void send(final Slot slot, final SledVmmState state)
    {
        if (closed)
        {
            return;
        }
        final int urlIndex = slot.urlIndex;
        lastAttemptNs = System.nanoTime();
        nexus.putVmmState(urlIndex, slot.propolisId, state).whenComplete((status, error) ->
        {
            if (error == null && status >= 200 && status < 300)
            {
                metrics.publishAcknowledged();
                wakeBackedOff();
                settled(slot, state);
            }
            else if (error == null && status >= 400 && status < 500)
            {
                metrics.publishRefused();
                wakeBackedOff();
                LOG.warning(() -> "vmm " + slot.propolisId + ": Nexus refused gen " + state.vmmState().gen()
                    + " with " + status + "; dropped");
                settled(slot, state);
            }
            else
            {
                retry(slot, error == null ? "HTTP " + status : String.valueOf(error));
            }
        });
    }

    private void settled(final Slot slot, final SledVmmState sent)
    {
        final SledVmmState next;
        final Consumer<Event> post;
        synchronized (slot)
        {
            slot.failures = 0;
            post = slot.post;
            if (slot.forgotten)
            {
                return;
            }
            if (slot.latest.vmmState().gen() > sent.vmmState().gen())
            {
                next = slot.latest;
                slot.waitingSinceNs = System.nanoTime();
            }
            else
            {
                // Idle: retire the slot so that an idle VMM costs the publisher nothing.
                next = null;
                slot.inFlight = false;
                slot.waitingSinceNs = 0;
                slot.retired = true;
                slots.remove(slot.propolisId, slot);
            }
        }
        post.accept(new Event.PublishSettled(sent.vmmState().gen()));
        if (next != null)
        {
            send(slot, next);
        }
    }

    private void retry(final Slot slot, final String reason)
    {
        final long delayMs;
        synchronized (slot)
        {
            if (slot.forgotten)
            {
                return;
            }
            delayMs = backoff.delayMs(slot.failures++);
            slot.urlIndex++;
            scheduleRetry(slot, delayMs);
        }
        metrics.publishRetry();
        LOG.warning(() -> "vmm " + slot.propolisId + ": publish failed (" + reason + "); retry in " + delayMs + " ms");
    }

    /** Schedules the slot's next attempt in {@code delayMs}; holds the slot's monitor. */
    private void scheduleRetry(final Slot slot, final long delayMs)
    {
        backingOff.incrementAndGet();
        armProbe();
        slot.retryAtNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delayMs);
        slot.retry = timer.newTimeout(timeout ->
        {
            final SledVmmState newest;
            synchronized (slot)
            {
                if (slot.retry != timeout)
                {
                    return; // Rescheduled by a wake-up; that timeout counts itself.
                }
                slot.retry = null;
                backingOff.decrementAndGet();
                if (slot.forgotten)
                {
                    return;
                }
                newest = slot.latest;
            }
            send(slot, newest);
        }, delayMs, TimeUnit.MILLISECONDS);
    }

    /** Arms the probe timer if it is not armed; it disarms itself once nothing backs off. */
    private void armProbe()
    {
        if (!probeArmed.compareAndSet(false, true))
        {
            return;
        }
        timer.newTimeout(timeout ->
        {
            probeArmed.set(false);
            if (backingOff.get() == 0 || closed)
            {
                return;
            }
            if (System.nanoTime() - lastAttemptNs >= TimeUnit.MILLISECONDS.toNanos(PROBE_INTERVAL_MS))
            {
                probe();
            }
            armProbe();
        }, PROBE_INTERVAL_MS, TimeUnit.MILLISECONDS);
    }

    /** Moves one waiting VMM's retry to now (its back-off is kept): its answer tells whether Nexus is back. */
    private void probe()
    {
        final long nowNs = System.nanoTime();
        for (final Slot slot : slots.values())
        {
            synchronized (slot)
            {
                final Timeout pending = slot.retry;
                if (pending != null && !slot.forgotten && slot.retryAtNs - nowNs > 0 && pending.cancel())
                {
                    backingOff.decrementAndGet();
                    scheduleRetry(slot, 1);
                    return;
                }
            }
        }
    }

    /**
     * Nexus answered: every VMM waiting in back-off for longer than {@link #WAKE_WINDOW_MS} is moved to a retry
     * soon, with its back-off reset. Cheap when nothing backs off; at most one scan per window.
     */
    private void wakeBackedOff()
    {
        if (backingOff.get() == 0 || closed)
        {
            return;
        }
        final long nowNs = System.nanoTime();
        final long last = lastWakeNs.get();
        if (nowNs - last < TimeUnit.MILLISECONDS.toNanos(WAKE_WINDOW_MS) || !lastWakeNs.compareAndSet(last, nowNs))
        {
            return;
        }
        final long windowNs = TimeUnit.MILLISECONDS.toNanos(WAKE_WINDOW_MS);
        int woken = 0;
        for (final Slot slot : slots.values())
        {
            synchronized (slot)
            {
                final Timeout pending = slot.retry;
                if (pending == null || slot.forgotten || slot.retryAtNs - nowNs <= windowNs || !pending.cancel())
                {
                    continue;
                }
                backingOff.decrementAndGet();
                slot.failures = 0;
                scheduleRetry(slot, 1 + (woken / WAKE_BATCH) * WAKE_STEP_MS);
            }
            woken++;
        }
        if (woken > 0)
        {
            metrics.publishWoken(woken);
            final int count = woken;
            LOG.info(() -> "Nexus answers again: " + count + " VMM state(s) waiting in back-off retried now");
        }
    }

    /**
     * Waits at most {@code boundMs} for every queued state to be settled (acknowledged or refused); returns the
     * number of VMMs still waiting when the bound ran out. For a clean shutdown: what can be told is told.
     */
    public int flush(final long boundMs) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(boundMs);
        while (!slots.isEmpty() && System.nanoTime() - deadlineNs < 0)
        {
            Thread.sleep(10);
        }
        return slots.size();
    }

    @Override
    public void close()
    {
        closed = true;
    }

    /** One VMM's publishing state. Guarded by its own monitor; held only for a few field updates. */
    private static final class Slot
    {
        private final UUID propolisId;
        private SledVmmState latest;
        private Consumer<Event> post;
        private boolean inFlight;
        private boolean forgotten;
        private boolean retired;
        private int failures;
        private int urlIndex;
        /** The scheduled retry after a failure, or null. */
        private Timeout retry;
        /** When {@link #retry} fires (System.nanoTime). */
        private long retryAtNs;
        /** When the oldest state not yet acknowledged was queued (System.nanoTime), or 0. */
        private long waitingSinceNs;

        private Slot(final UUID propolisId)
        {
            this.propolisId = propolisId;
        }
    }
}
