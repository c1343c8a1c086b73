package sledagent.perf;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import sledagent.agent.core.AgentContext;
import sledagent.agent.vmm.KillIntent;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmStore;

/**
 * The agent's {@link VmmStore} with each write timed from its submission (on the VMM's actor) to its acknowledgement
 * (after the group commit's sync that covers it; the actor waits for it before it answers or publishes, except for
 * a kill's record and a terminal one, which it does not wait for). Given to the agent through
 * {@link AgentContext#store}, so every actor gets it; everything else (the kill journal, recovery) goes straight to
 * the wrapped store.
 */
final class TimedStore implements VmmStore
{
    /**
     * One write: {@code nanoTime} before and after; {@code phase} is the stored record's lifecycle phase (null for a
     * delete), so that the write of the step that decided to end a VMM (its first HALTING record) can be told apart.
     */
    record Write(long startNs, long endNs, String kind, String phase)
    {
    }

    private final VmmStore delegate;
    private final Map<UUID, List<Write>> writes = new ConcurrentHashMap<>();

    /** Times the writes of {@code delegate}, which stays its opener's to close. */
    TimedStore(final VmmStore delegate)
    {
        this.delegate = delegate;
    }

    /** The writes for {@code id} that began at or after {@code fromNs}. */
    List<Write> writesSince(final UUID id, final long fromNs)
    {
        return writes.getOrDefault(id, List.of()).stream().filter(w -> w.startNs() - fromNs >= 0).toList();
    }

    @Override
    public void save(final StoredVmm vmm) throws IOException
    {
        final long start = System.nanoTime();
        try
        {
            delegate.save(vmm);
        }
        finally
        {
            writes.computeIfAbsent(vmm.propolisId(), id -> new CopyOnWriteArrayList<>())
                .add(new Write(start, System.nanoTime(), "save", vmm.phase().name()));
        }
    }

    @Override
    public void delete(final UUID propolisId) throws IOException
    {
        final long start = System.nanoTime();
        try
        {
            delegate.delete(propolisId);
        }
        finally
        {
            writes.computeIfAbsent(propolisId, id -> new CopyOnWriteArrayList<>())
                .add(new Write(start, System.nanoTime(), "delete", null));
        }
    }

    @Override
    public CompletableFuture<Void> saveAsync(final StoredVmm vmm)
    {
        return timed(vmm.propolisId(), "save", vmm.phase().name(), delegate.saveAsync(vmm));
    }

    @Override
    public CompletableFuture<Void> deleteAsync(final UUID propolisId)
    {
        return timed(propolisId, "delete", null, delegate.deleteAsync(propolisId));
    }

    /** A queued write, timed from its submission to its acknowledgement (after the sync that covers it). */
    private CompletableFuture<Void> timed(final UUID propolisId, final String kind, final String phase,
        final CompletableFuture<Void> write)
    {
        final long start = System.nanoTime();
        return write.whenComplete((ignored, ex) -> writes.computeIfAbsent(propolisId,
            id -> new CopyOnWriteArrayList<>()).add(new Write(start, System.nanoTime(), kind, phase)));
    }

    @Override
    public boolean journalKillAhead(final UUID propolisId, final KillIntent intent)
    {
        return delegate.journalKillAhead(propolisId, intent);
    }

    @Override
    public boolean syncJournal()
    {
        return delegate.syncJournal();
    }

    @Override
    public List<StoredVmm> loadAll() throws IOException
    {
        return delegate.loadAll();
    }

    @Override
    public boolean journalKill(final UUID propolisId, final KillIntent intent)
    {
        return delegate.journalKill(propolisId, intent);
    }

    @Override
    public void settled(final UUID propolisId)
    {
        delegate.settled(propolisId);
    }

    @Override
    public Map<UUID, List<KillIntent>> journalledKills()
    {
        return delegate.journalledKills();
    }

    @Override
    public void forgetJournalledKillsBut(final Set<UUID> known)
    {
        delegate.forgetJournalledKillsBut(known);
    }
}
