package sledagent.hypervisor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import sledagent.api.MigrationState;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

class PropolisStatesTest
{
    /** omicron sled-agent/src/common/instance.rs, written out once more by hand. */
    private static final Map<PropolisInstanceState, VmmState> VMM = new EnumMap<>(Map.of(
        PropolisInstanceState.Creating, VmmState.STARTING,
        PropolisInstanceState.Starting, VmmState.STARTING,
        PropolisInstanceState.Running, VmmState.RUNNING,
        PropolisInstanceState.Repairing, VmmState.RUNNING,
        PropolisInstanceState.Stopping, VmmState.STOPPING,
        PropolisInstanceState.Stopped, VmmState.STOPPING,
        PropolisInstanceState.Rebooting, VmmState.REBOOTING,
        PropolisInstanceState.Migrating, VmmState.MIGRATING,
        PropolisInstanceState.Failed, VmmState.FAILED,
        PropolisInstanceState.Destroyed, VmmState.DESTROYED));

    @Test
    void shouldHaveAnExpectationForEveryPropolisState()
    {
        assertThat(VMM.keySet()).containsExactlyInAnyOrder(PropolisInstanceState.values());
    }

    @ParameterizedTest
    @EnumSource(PropolisInstanceState.class)
    void shouldMapEveryPropolisStateAsOmicronDoes(final PropolisInstanceState state)
    {
        assertThat(PropolisStates.vmmState(state)).isEqualTo(VMM.get(state));
    }

    @Test
    void shouldPublishStoppedAsStoppingBecauseOnlyDestroyedIsTerminal()
    {
        assertThat(PropolisStates.vmmState(PropolisInstanceState.Stopped)).isEqualTo(VmmState.STOPPING);
        assertThat(PropolisStates.vmmState(PropolisInstanceState.Stopped).isTerminal()).isFalse();
    }

    @ParameterizedTest
    @EnumSource(PropolisInstanceState.class)
    void shouldBeTerminalExactlyWhenPropolisHasHalted(final PropolisInstanceState state)
    {
        assertThat(PropolisStates.vmmState(state).isTerminal()).isEqualTo(state.isHalted());
    }

    @ParameterizedTest
    @EnumSource(PropolisMigrationState.class)
    void shouldMapEveryMigrationPhase(final PropolisMigrationState phase)
    {
        final MigrationState expected = switch (phase)
        {
            case Finish -> MigrationState.COMPLETED;
            case Error -> MigrationState.FAILED;
            default -> MigrationState.IN_PROGRESS;
        };
        assertThat(PropolisStates.migrationState(phase)).isEqualTo(expected);
        assertThat(PropolisStates.migrationState(phase).isTerminal()).isEqualTo(phase.isTerminal());
    }

    @Test
    void shouldNeverReportAMigrationAsPending()
    {
        // Pending is the control plane's own state before Propolis has heard of the migration.
        for (final PropolisMigrationState phase : PropolisMigrationState.values())
        {
            assertThat(PropolisStates.migrationState(phase)).isNotEqualTo(MigrationState.PENDING);
        }
    }
}
