package sledagent.perf;

import java.util.Collection;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import sledagent.agent.vmm.VmmActor;
import sledagent.agent.vmm.VmmTable;

/**
 * {@link VmmTable} on the JDK's {@link ConcurrentHashMap}: the alternative {@link TableBenchmark} measures against
 * the agent's {@code NonBlockingVmmTable} (JCTools {@code NonBlockingHashMap}). Reads are lock-free in both; CHM
 * locks one bin on a write, NBHM never locks.
 */
public final class ChmVmmTable implements VmmTable
{
    private final ConcurrentHashMap<UUID, VmmActor> map;

    public ChmVmmTable()
    {
        this(16);
    }

    public ChmVmmTable(final int initialCapacity)
    {
        map = new ConcurrentHashMap<>(initialCapacity);
    }

    @Override
    public VmmActor get(final UUID propolisId)
    {
        return map.get(propolisId);
    }

    @Override
    public VmmActor putIfAbsent(final UUID propolisId, final VmmActor actor)
    {
        return map.putIfAbsent(propolisId, actor);
    }

    @Override
    public boolean remove(final UUID propolisId, final VmmActor actor)
    {
        return map.remove(propolisId, actor);
    }

    @Override
    public int size()
    {
        return map.size();
    }

    @Override
    public Collection<VmmActor> actors()
    {
        return map.values();
    }
}
