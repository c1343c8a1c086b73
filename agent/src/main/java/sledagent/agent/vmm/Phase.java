package sledagent.agent.vmm;

/**
 * Where a VMM is in its life as the agent sees it (distinct from the published {@code VmmState}).
 * Only {@link VmmLifecycle} moves a record between phases.
 */
public enum Phase
{
    /** Registered; no zone exists and nothing was spawned. */
    REGISTERED,
    /** The start sequence (zone, spawn, wait for Propolis, ensure, Run) is in flight. */
    STARTING,
    /** Propolis is ensured and watched by the monitor. */
    ACTIVE,
    /** The terminal state is decided; the zone is being killed and removed. */
    HALTING,
    /** The zone is gone and the terminal state is final; waiting for it to be published. */
    DONE
}
