package sledagent.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import sledagent.agent.config.Durations;

/** The command line: exit statuses and messages an operator sees. */
class MainTest
{
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(final String... args)
    {
        return Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void shouldPrintVersionAndHelp()
    {
        assertThat(run("--version")).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("sled-agent ");
        assertThat(run("--help")).isZero();
        assertThat(run("serve", "--help")).isZero();
        assertThat(run("demo", "--help")).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("--stop-grace DURATION");
    }

    @Test
    void shouldRefuseBadUsageWithStatusTwoAndAReason()
    {
        assertThat(run()).isEqualTo(2);
        assertThat(run("frobnicate")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("unknown command 'frobnicate'");
        assertThat(run("serve", "--stop-grace", "ten")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("bad duration 'ten'");
        assertThat(run("serve", "--listen", "nowhere")).isEqualTo(2);
        assertThat(run("serve", "--nexus", "ftp://x")).isEqualTo(2);
        assertThat(run("serve", "--listen")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--listen needs a value");
        assertThat(run("serve", "--sled-id", "nope")).isEqualTo(2);
        assertThat(run("serve", "--vmm", "xen")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("expected qemu, sim or command");
    }

    @Test
    void shouldRefuseToServeQemuWithoutQemuOrBootSourceNeverFallingBackToTheSim()
    {
        final String before = err.toString(StandardCharsets.UTF_8);
        assertThat(run("serve", "--vmm", "qemu", "--qemu", "/nonexistent/qemu-system-x86_64", "--bootrom",
            "/nonexistent/OVMF.fd", "--state-dir", "/dev/null/state")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8).substring(before.length()))
            .contains("/nonexistent/qemu-system-x86_64").contains("not an executable file")
            .doesNotContain("usage:");
        // The default VMM is qemu; with no boot source serve refuses too (QEMU given as an executable file).
        assertThat(run("serve", "--qemu", "/bin/sh", "--state-dir", "/dev/null/state")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("no boot source");
    }

    @Test
    void shouldParseDurationsWithUnits()
    {
        assertThat(Durations.parseMs("600s")).isEqualTo(600_000);
        assertThat(Durations.parseMs("2s")).isEqualTo(2_000);
        assertThat(Durations.parseMs("250ms")).isEqualTo(250);
        assertThat(Durations.parseMs("10m")).isEqualTo(600_000);
        assertThat(Durations.parseMs("1h")).isEqualTo(3_600_000);
        assertThatThrownBy(() -> Durations.parseMs("0s")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Durations.parseMs("5")).hasMessageContaining("600s");
        assertThatThrownBy(() -> Durations.parseMs("-5s")).isInstanceOf(IllegalArgumentException.class);
    }
}
