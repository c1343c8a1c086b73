package sledagent.agent.vmm;

import java.util.Collection;
import java.util.UUID;

/**
 * The VMMs of this sled by propolis id. Written only by {@link VmmManager}; read from any thread without
 * locks. An interface so that a benchmark can choose the map.
 */
public interface VmmTable
{
    VmmActor get(UUID propolisId);

    /** Inserts unless present; returns the actor already there, or null if {@code actor} went in. */
    VmmActor putIfAbsent(UUID propolisId, VmmActor actor);

    /** Removes the entry only if it is still {@code actor}. */
    boolean remove(UUID propolisId, VmmActor actor);

    int size();

    /** A weakly consistent view of all actors. */
    Collection<VmmActor> actors();
}
