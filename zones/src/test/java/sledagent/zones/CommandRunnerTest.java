package sledagent.zones;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandRunnerTest
{
    private static final Duration PROMPTLY = Duration.ofSeconds(2);

    @TempDir
    Path tmp;

    private CommandRunner runner;

    @BeforeEach
    void setUp() throws Exception
    {
        assumeTrue(Platform.isLinux(), "uses /bin/sh and /proc");
        final Path bin = Files.createDirectories(tmp.resolve("bin"));
        final Path hello = bin.resolve("hello");
        Files.writeString(hello, "#!/bin/sh\necho \"hello $*\"\necho oops >&2\nexit 4\n");
        Files.setPosixFilePermissions(hello, PosixFilePermissions.fromString("rwxr-xr-x"));
        runner = new CommandRunner(Map.of("PATH", bin + ":/usr/bin:/bin", "ZONE_TEST", "1"));
    }

    @Test
    void shouldFindProgramOnItsOwnPathAndCaptureMergedOutputAndExitCode()
    {
        final CommandRunner.Result result = runner.run(List.of("hello", "a b"), PROMPTLY);

        assertThat(result.exitCode()).isEqualTo(4);
        assertThat(result.ok()).isFalse();
        assertThat(result.output()).isEqualTo("hello a b\noops\n");
        assertThat(result.argv()).containsExactly("hello", "a b");
        assertThat(result.commandLine()).isEqualTo("hello a b");
    }

    @Test
    void shouldGiveCommandsExactlyItsEnvironment()
    {
        final CommandRunner.Result result = runner.run(List.of("/usr/bin/env"), PROMPTLY);

        assertThat(result.output().lines().sorted()).containsExactly("PATH=" + tmp.resolve("bin") + ":/usr/bin:/bin",
            "ZONE_TEST=1");
    }

    @Test
    void shouldReportNonZeroExitWithOutputWhenChecked()
    {
        assertThatThrownBy(() -> runner.runChecked(List.of("hello"), PROMPTLY))
            .isInstanceOf(ZoneException.class)
            .hasMessage("hello: exit 4: hello \noops");
        assertThat(runner.runChecked(List.of("true"), PROMPTLY).ok()).isTrue();
    }

    @Test
    void shouldRefuseProgramNotOnPath()
    {
        assertThatThrownBy(() -> runner.run(List.of("no-such-program"), PROMPTLY))
            .isInstanceOf(ZoneException.class)
            .hasMessageContaining("no-such-program: not found on PATH=");
        assertThatThrownBy(() -> runner.run(List.of(), PROMPTLY)).isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldKillCommandAndItsChildrenAtDeadlineAndReportIt()
    {
        final List<String> sleeper = List.of("sleep", "31.5");
        final long startNs = System.nanoTime();

        assertThatThrownBy(() -> runner.run(List.of("/bin/sh", "-c", "echo started; sleep 31.5; echo never"),
            Duration.ofMillis(200)))
            .isInstanceOf(ZoneException.class)
            .hasMessageContaining("did not finish within 200 ms; killed it. Output: started");

        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs)).isBetween(200L, 1500L);
        await().atMost(PROMPTLY).pollInterval(Duration.ofMillis(5))
            .until(() -> TestProcesses.withCommandLine(sleeper).isEmpty());
    }

    @Test
    void shouldKeepOnlyTheFirst64KiBOfOutput()
    {
        final CommandRunner.Result result = runner.run(List.of("/bin/sh", "-c",
            "head -c 100000 /dev/zero | tr '\\0' x"),
            PROMPTLY);

        assertThat(result.output()).hasSize(CommandRunner.MAX_OUTPUT_BYTES);
    }

    @Test
    void shouldKeepInterruptFlagAndKillCommandWhenInterrupted()
    {
        Thread.currentThread().interrupt();
        try
        {
            assertThatThrownBy(() -> runner.run(List.of("sleep", "31.5"), PROMPTLY))
                .isInstanceOf(ZoneException.class)
                .hasMessageContaining("interrupted");
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        }
        finally
        {
            Thread.interrupted();
        }
        await().atMost(PROMPTLY).pollInterval(Duration.ofMillis(5))
            .until(() -> TestProcesses.withCommandLine(List.of("sleep", "31.5")).isEmpty());
    }
}
