package sledagent.perf;

import java.io.IOException;
import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import sledagent.agent.SledAgent;
import sledagent.agent.vmm.StoredVmm;
import sledagent.agent.vmm.VmmStore;

/**
 * The agent's {@link VmmStore} with each write timed on the calling thread (the VMM's actor, which writes the
 * record before it answers or publishes). Swapped into {@code VmmManager.store} by reflection right after
 * {@link SledAgent#launch}, before any VMM exists, so every actor gets it; nothing else changes.
 */
final class TimedStore implements VmmStore
{
    /** One write: {@code nanoTime} before and after. */
    record Write(long startNs, long endNs, String kind)
    {
    }

    private final VmmStore delegate;
    private final Map<UUID, List<Write>> writes = new ConcurrentHashMap<>();

    private TimedStore(final VmmStore delegate)
    {
        this.delegate = delegate;
    }

    static Optional<TimedStore> install(final SledAgent agent, final StringBuilder why)
    {
        try
        {
            final Field field = agent.manager().getClass().getDeclaredField("store");
            field.setAccessible(true);
            final VmmStore original = (VmmStore)field.get(agent.manager());
            final TimedStore timed = new TimedStore(original);
            field.set(agent.manager(), timed);
            return Optional.of(timed);
        }
        catch (final ReflectiveOperationException | RuntimeException ex)
        {
            why.append(ex);
            return Optional.empty();
        }
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
                .add(new Write(start, System.nanoTime(), "save"));
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
                .add(new Write(start, System.nanoTime(), "delete"));
        }
    }

    @Override
    public List<StoredVmm> loadAll() throws IOException
    {
        return delegate.loadAll();
    }
}
