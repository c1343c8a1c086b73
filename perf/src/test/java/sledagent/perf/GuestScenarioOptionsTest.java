package sledagent.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The command line and the pure parts of {@code guest-lifecycle} and {@code guest-deadline}. */
class GuestScenarioOptionsTest
{
    @Test
    void newScenariosParseWithTheirDefaults()
    {
        final StopLatency.Options lifecycle = StopLatency.parse(new String[] {"guest-lifecycle", "--vmm", "qemu"});
        assertThat(lifecycle.scenario).isEqualTo("guest-lifecycle");
        assertThat(lifecycle.vmm).isEqualTo("qemu");
        assertThat(lifecycle.concurrency).isEqualTo(2);
        assertThat(lifecycle.graceMs).isZero();
        final StopLatency.Options deadline = StopLatency.parse(new String[] {"guest-deadline", "--vmms", "4",
            "--grace-ms", "1500", "--concurrency", "3"});
        assertThat(deadline.scenario).isEqualTo("guest-deadline");
        assertThat(deadline.vmms).isEqualTo(4);
        assertThat(deadline.graceMs).isEqualTo(1500);
        assertThat(deadline.concurrency).isEqualTo(3);
    }

    @Test
    void refusesBadConcurrencyAndGrace()
    {
        assertThatThrownBy(() -> StopLatency.parse(new String[] {"guest-lifecycle", "--concurrency", "0"}))
            .hasMessageContaining("--concurrency must be positive");
        assertThatThrownBy(() -> StopLatency.parse(new String[] {"guest-deadline", "--grace-ms", "-5"}))
            .hasMessageContaining("--grace-ms must not be negative");
        assertThatThrownBy(() -> StopLatency.parse(new String[] {"guest-deadline", "--grace-ms"}))
            .hasMessageContaining("needs a value");
        assertThatThrownBy(() -> StopLatency.parse(new String[] {"guest-lifecycles"}))
            .hasMessageContaining("unknown scenario");
    }

    @Test
    void stoppedIsReadAfterTheLastParenthesisOfTheComm()
    {
        assertThat(GuestDeadlineScenario.isStopped("4242 (java) T 1 4242 4242 0 -1")).isTrue();
        assertThat(GuestDeadlineScenario.isStopped("4242 (java) S 1 4242 4242 0 -1")).isFalse();
        // A comm may hold spaces and parentheses; the state follows the last ')'.
        assertThat(GuestDeadlineScenario.isStopped("7 (a) T (b) R 1 7 7")).isFalse();
        assertThat(GuestDeadlineScenario.isStopped("7 (x) S) T 1 7 7")).isTrue();
        assertThatThrownBy(() -> GuestDeadlineScenario.isStopped("garbage")).isInstanceOf(
            IllegalArgumentException.class);
    }

    @Test
    void reportGivesBothRatesAndTheirRatio()
    {
        final StopLatency.Options options = StopLatency.parse(new String[] {"guest-lifecycle", "--vmm", "qemu",
            "--vmms", "4"});
        final FigureTable table = new FigureTable();
        table.add(GuestLifecycleScenario.TOTAL, 3000.0);
        final String report = GuestLifecycleScenario.report(options, "0.50 0.40 0.30", "0.90 0.50 0.30", table,
            new GuestLifecycleScenario.Throughput(4, 8_000_000_000L),
            new GuestLifecycleScenario.Throughput(4, 4_000_000_000L));
        assertThat(report).contains("guest-lifecycle --vmm qemu, 4 lifecycles, 2 at once",
            "load average 0.50 0.40 0.30 before, 0.90 0.50 0.30 after", GuestLifecycleScenario.TOTAL,
            "ours: 0.500 lifecycles/s (4 in 8.00 s)", "1.000 lifecycles/s (4 in 4.00 s); ours / floor = 0.50", "TCG");
        final String simOnly = GuestLifecycleScenario.report(options, "-", "-", table,
            new GuestLifecycleScenario.Throughput(4, 8_000_000_000L), null);
        assertThat(simOnly).contains("ours: 0.500 lifecycles/s").doesNotContain("floor");
    }
}
