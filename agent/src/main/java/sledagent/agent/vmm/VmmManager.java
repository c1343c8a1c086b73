package sledagent.agent.vmm;

import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.logging.Logger;
import sledagent.agent.metrics.Metrics;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.SledVmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.zones.ZoneProcess;

/**
 * The only writer of the {@link VmmTable}: registers VMMs (creating their actors) and removes them when their
 * actor says they are done. Everything else finds the actor in the table and talks to it. Never blocks, so it
 * is safe to call from an event loop.
 */
public final class VmmManager
{
    private static final Logger LOG = Logger.getLogger(VmmManager.class.getName());

    private final VmmTable table;
    private final Executor actorPool;
    private final VmmDriver driver;
    private final Clock clock;
    private final VmmStore store;
    private final Metrics metrics;
    /** Serialises registers of one id (not of all): the record must be written before the VMM is in the table. */
    private final Object[] registerLocks = new Object[64];

    public VmmManager(final VmmTable table, final Executor actorPool, final VmmDriver driver, final Clock clock)
    {
        this(table, actorPool, driver, clock, VmmStore.NONE, new Metrics());
    }

    public VmmManager(final VmmTable table, final Executor actorPool, final VmmDriver driver, final Clock clock,
        final VmmStore store, final Metrics metrics)
    {
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.table = Objects.requireNonNull(table, "table");
        this.actorPool = Objects.requireNonNull(actorPool, "actorPool");
        this.driver = Objects.requireNonNull(driver, "driver");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.store = Objects.requireNonNull(store, "store");
        for (int i = 0; i < registerLocks.length; i++)
        {
            registerLocks[i] = new Object();
        }
    }

    /**
     * {@code PUT /vmms/{id}}. A new id is registered and its state returned. The same id with the same
     * instance returns the current state and ignores the new body (omicron); with another instance it is
     * refused with 409, since one propolis id can serve only one instance. A new VMM's record is written before
     * it enters the table; if it cannot be written the answer is 507 and nothing changed. May block on that
     * write: call it off the event loop.
     */
    public Reply register(final UUID propolisId, final InstanceEnsureBody body)
    {
        synchronized (registerLocks[Math.floorMod(propolisId.hashCode(), registerLocks.length)])
        {
            return registerLocked(propolisId, body);
        }
    }

    private Reply registerLocked(final UUID propolisId, final InstanceEnsureBody body)
    {
        while (true)
        {
            final VmmActor existing = table.get(propolisId);
            if (existing != null)
            {
                final UUID instanceId = existing.record().registration().instanceId();
                if (!instanceId.equals(body.instanceId()))
                {
                    return new Reply.Failed(ApiError.conflict("VMM " + propolisId + " is registered for instance "
                        + instanceId + ", not " + body.instanceId()));
                }
                return new Reply.Ok(existing.snapshot());
            }
            final VmmRecord record = VmmRecord.registered(propolisId, body, clock.instant(), driver.stopGraceMs());
            final StoredVmm stored = StoredVmm.of(record, 0, 0);
            try
            {
                store.save(stored);
            }
            catch (final IOException ex)
            {
                LOG.severe(() -> "vmm " + propolisId + ": cannot persist its record: " + ex);
                return new Reply.Failed(ApiError.storageFailed(propolisId, ex));
            }
            final VmmActor actor = new VmmActor(record, actorPool, driver, clock, this::remove, store, stored, metrics);
            if (table.putIfAbsent(propolisId, actor) == null)
            {
                LOG.info(() -> "vmm " + propolisId + ": registered for instance " + body.instanceId() + " at "
                    + body.propolisAddr() + " gen " + body.vmmRuntime().gen());
                return new Reply.Ok(actor.snapshot());
            }
            // Lost a race with another register of the same id: look again.
        }
    }

    /**
     * Sends a request to the VMM's actor. Unknown id: 404 (DELETE: 200 with null, omicron's idempotent
     * unregister). Full mailbox: 503 at once.
     */
    public CompletableFuture<Reply> request(final UUID propolisId, final Event request)
    {
        final VmmActor actor = table.get(propolisId);
        if (actor == null)
        {
            final Reply reply = request.kind() == Event.Kind.UNREGISTER_REQUESTED
                ? new Reply.Ok(new VmmUnregisterResponse(null))
                : new Reply.Failed(ApiError.noSuchInstance());
            return CompletableFuture.completedFuture(reply);
        }
        final CompletableFuture<Reply> reply = new CompletableFuture<>();
        if (!actor.offer(request, reply))
        {
            return CompletableFuture.completedFuture(new Reply.Failed(ApiError.channelFull()));
        }
        return reply;
    }

    /** The newest state of a VMM, or null if it is not in the table. Never waits on the VMM. */
    public SledVmmState state(final UUID propolisId)
    {
        final VmmActor actor = table.get(propolisId);
        return actor == null ? null : actor.snapshot();
    }

    /**
     * Puts a VMM found in the store back in the table after an agent restart, with its zone's main process if
     * it could be adopted (null otherwise), and lets its actor decide what to do ({@link Event.Recovered}).
     */
    public void recover(final StoredVmm stored, final ZoneProcess adopted)
    {
        recover(stored, adopted, List.of());
    }

    /** As {@link #recover(StoredVmm, ZoneProcess)}, with the kills the old agent journalled for this VMM. */
    public void recover(final StoredVmm stored, final ZoneProcess adopted, final List<KillIntent> kills)
    {
        final VmmActor actor = new VmmActor(stored.record(driver.stopGraceMs()), actorPool, driver, clock, this::remove,
            store, stored, metrics);
        if (table.putIfAbsent(stored.propolisId(), actor) != null)
        {
            throw new IllegalStateException("vmm " + stored.propolisId() + " recovered twice");
        }
        actor.recover(adopted, kills);
    }

    public Metrics metrics()
    {
        return metrics;
    }

    public VmmTable table()
    {
        return table;
    }

    private void remove(final VmmActor actor)
    {
        if (table.remove(actor.propolisId(), actor))
        {
            LOG.info(() -> "vmm " + actor.propolisId() + ": removed from the table");
        }
    }
}
