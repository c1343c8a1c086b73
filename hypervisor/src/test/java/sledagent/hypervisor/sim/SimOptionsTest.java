package sledagent.hypervisor.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SimOptionsTest
{
    @Test
    void shouldNeedOnlyListen()
    {
        final SimOptions options = SimOptions.parse(new String[] {"--listen", "127.0.0.1:0"});

        assertThat(options.listen().getPort()).isZero();
        assertThat(options.stepMs()).isEqualTo(SimOptions.DEFAULT_STEP_MS);
        assertThat(options.migrateStepMs()).isEqualTo(SimOptions.DEFAULT_STEP_MS);
        assertThat(options.rundownMs()).isEqualTo(SimOptions.DEFAULT_STEP_MS);
        assertThat(options.fault()).isEqualTo(SimFault.NONE);
    }

    @Test
    void shouldTakeEveryOptionInBothSpellings()
    {
        final SimOptions options = SimOptions.parse(
            new String[] {"--listen=[::1]:12400", "--step-ms", "0", "--fault=fail_start", "--migrate-step-ms=300",
                "--rundown-ms", "3000"});

        assertThat(options.listen().getPort()).isEqualTo(12400);
        assertThat(options.stepMs()).isZero();
        assertThat(options.migrateStepMs()).isEqualTo(300);
        assertThat(options.rundownMs()).isEqualTo(3000);
        assertThat(options.fault()).isEqualTo(SimFault.FAIL_START);
    }

    @Test
    void shouldDefaultTheMigrationStepToTheStepAndTheRundownToTheMigrationStep()
    {
        final SimOptions stepOnly = SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--step-ms", "20"});
        assertThat(stepOnly.migrateStepMs()).isEqualTo(20);
        assertThat(stepOnly.rundownMs()).isEqualTo(20);

        final SimOptions migrateStep = SimOptions.parse(
            new String[] {"--listen", "127.0.0.1:0", "--migrate-step-ms", "50", "--fault", "fail_migration"});
        assertThat(migrateStep.stepMs()).isEqualTo(SimOptions.DEFAULT_STEP_MS);
        assertThat(migrateStep.rundownMs()).isEqualTo(50);
        assertThat(migrateStep.fault()).isEqualTo(SimFault.FAIL_MIGRATION);
    }

    @Test
    void shouldRefuseABadCommandLine()
    {
        assertThatThrownBy(() -> SimOptions.parse(new String[0])).hasMessageContaining("--listen is required");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen"})).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--step-ms", "-1"}))
            .hasMessageContaining(">= 0");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--step-ms", "x"}))
            .hasMessageContaining("not a number");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--rundown-ms", "-5"}))
            .hasMessageContaining("--rundown-ms must be >= 0");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--migrate-step-ms", "y"}))
            .hasMessageContaining("--migrate-step-ms is not a number");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--fault", "melt"}))
            .hasMessageContaining("unknown fault");
        assertThatThrownBy(() -> SimOptions.parse(new String[] {"--listen", "127.0.0.1:0", "--verbose"}))
            .hasMessageContaining("unknown argument");
    }

    @Test
    void shouldKnowEveryFaultByItsWireName()
    {
        for (final SimFault fault : SimFault.values())
        {
            assertThat(SimFault.fromWire(fault.wireName())).isEqualTo(fault);
        }
        assertThat(SimFault.HANG_STOP.wireName()).isEqualTo("hang_stop");
        assertThat(SimFault.FAIL_MIGRATION.wireName()).isEqualTo("fail_migration");
    }
}
