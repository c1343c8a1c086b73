package sledagent.agent.publish;

import io.netty.util.Timer;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.agent.runtime.Backoff;
import sledagent.agent.vmm.Event;
import sledagent.api.SledVmmState;

/**
 * Sends each VMM's newest state to Nexus. Per VMM at most one request is in flight and only the newest state is
 * kept to send: a state that is superseded before it goes out is never sent, so Nexus sees generations in
 * order. Connection errors and 5xx are retried forever with {@link Backoff#PUBLISH} (moving to the next Nexus
 * URL each time); 4xx is permanent: logged and dropped. Never blocks the caller. When a generation is done
 * with (acknowledged or refused for good) the VMM's actor is told, so it can leave the table only after its
 * terminal state is out.
 */
public final class StatePublisher implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(StatePublisher.class.getName());

    private final NexusClient nexus;
    private final Timer timer;
    private final Metrics metrics;
    private final Map<UUID, Slot> slots = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public StatePublisher(final NexusClient nexus, final Timer timer, final Metrics metrics)
    {
        this.nexus = nexus;
        this.timer = timer;
        this.metrics = metrics;
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
        nexus.putVmmState(urlIndex, slot.propolisId, state).whenComplete((status, error) ->
        {
            if (error == null && status >= 200 && status < 300)
            {
                metrics.publishAcknowledged();
                settled(slot, state);
            }
            else if (error == null && status >= 400 && status < 500)
            {
                metrics.publishRefused();
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
            delayMs = Backoff.PUBLISH.delayMs(slot.failures++);
            slot.urlIndex++;
        }
        metrics.publishRetry();
        LOG.warning(() -> "vmm " + slot.propolisId + ": publish failed (" + reason + "); retry in " + delayMs + " ms");
        timer.newTimeout(timeout ->
        {
            final SledVmmState newest;
            synchronized (slot)
            {
                if (slot.forgotten)
                {
                    return;
                }
                newest = slot.latest;
            }
            send(slot, newest);
        }, delayMs, TimeUnit.MILLISECONDS);
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
        /** When the oldest state not yet acknowledged was queued (System.nanoTime), or 0. */
        private long waitingSinceNs;

        private Slot(final UUID propolisId)
        {
            this.propolisId = propolisId;
        }
    }
}
