package sledagent.hypervisor;

import sledagent.api.MigrationState;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * What a Propolis observation means to the control plane, as omicron's sled-agent maps it
 * ({@code sled-agent/src/common/instance.rs}). Pure functions; the switches are exhaustive, so a new Propolis
 * state fails the build here rather than being guessed at run time.
 */
public final class PropolisStates
{
    private PropolisStates()
    {
    }

    /**
     * The VMM state to publish for a Propolis instance state.
     * <p>{@code Stopped} is published as {@code stopping}: the VM has halted but Propolis has not yet torn it down
     * ({@code Destroyed}), and only a terminal state may tell Nexus the VMM is gone. {@code Repairing} is never
     * emitted by Propolis; omicron calls it running.
     *
     * @param state a Propolis {@code InstanceState}
     * @return the sled-agent {@code VmmState}
     */
    public static VmmState vmmState(final PropolisInstanceState state)
    {
        return switch (state)
        {
            case Creating, Starting -> VmmState.STARTING;
            case Running, Repairing -> VmmState.RUNNING;
            case Stopping, Stopped -> VmmState.STOPPING;
            case Rebooting -> VmmState.REBOOTING;
            case Migrating -> VmmState.MIGRATING;
            case Failed -> VmmState.FAILED;
            case Destroyed -> VmmState.DESTROYED;
        };
    }

    /**
     * The migration state to publish for a Propolis migration phase: {@code Finish} completed, {@code Error}
     * failed, every other phase in progress.
     *
     * @param phase a Propolis {@code MigrationState}
     * @return the sled-agent {@code MigrationState}
     */
    public static MigrationState migrationState(final PropolisMigrationState phase)
    {
        return switch (phase)
        {
            case Finish -> MigrationState.COMPLETED;
            case Error -> MigrationState.FAILED;
            case Sync, RamPush, Pause, RamPushDirty, Device, Resume, RamPull, Server -> MigrationState.IN_PROGRESS;
        };
    }
}
