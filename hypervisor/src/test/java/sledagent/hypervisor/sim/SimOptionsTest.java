package sledagent.hypervisor.sim;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SimOptionsTest
{
    @Test
    void shouldNeedOnlyListen()
    {
        final SimOptions options = SimOptions.parse(new String[] {"--listen", "127.0.0.1:0"});

        assertThat(options.listen().getPort()).isZero();
        assertThat(options.stepMs()).isEqualTo(SimOptions.DEFAULT_STEP_MS);
        assertThat(options.fault()).isEqualTo(SimFault.NONE);
    }

    @Test
    void shouldTakeEveryOptionInBothSpellings()
    {
        final SimOptions options = SimOptions.parse(
            new String[] {"--listen=[::1]:12400", "--step-ms", "0", "--fault=fail_start"});

        assertThat(options.listen().getPort()).isEqualTo(12400);
        assertThat(options.stepMs()).isZero();
        assertThat(options.fault()).isEqualTo(SimFault.FAIL_START);
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
    }
}
