package sledagent.agent.vmm;

import java.util.Collection;
import java.util.UUID;
import org.jctools.maps.NonBlockingHashMap;

/**
 * {@link VmmTable} on JCTools' lock-free {@link NonBlockingHashMap}: lookups never block or lock. Kept as the
 * benchmarked alternative; the agent uses {@link ConcurrentVmmTable}, which the benchmark chose.
 */
public final class NonBlockingVmmTable implements VmmTable
{
    private final NonBlockingHashMap<UUID, VmmActor> map = new NonBlockingHashMap<>();

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
