package sledagent.zones.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.zones.ZoneException;

/** The watcher alone, on plain child processes (no cgroup needed). */
class PidfdWatcherTest
{
    private static final Duration PROMPTLY = Duration.ofSeconds(2);

    private final List<Process> children = new ArrayList<>();
    private final List<Integer> pidfds = new ArrayList<>();
    private LinuxLibC libc;
    private PidfdWatcher watcher;

    @BeforeEach
    void setUp()
    {
        assumeTrue(Platform.isLinux());
        libc = LinuxLibC.instance();
        watcher = new PidfdWatcher("test-pidfd-watcher");
    }

    @AfterEach
    void tearDown() throws InterruptedException
    {
        if (watcher != null)
        {
            watcher.close();
        }
        for (final Process child : children)
        {
            child.destroyForcibly();
            child.waitFor(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        }
        pidfds.forEach(fd -> LinuxLibC.closeQuietly(libc, fd));
    }

    @Test
    void shouldRunCallbackOnWatcherThreadWhenProcessExits() throws Exception
    {
        final Process child = sleeper();
        final int pidfd = pidfdOf(child);
        final CompletableFuture<String> exitThread = new CompletableFuture<>();

        watcher.register(pidfd, () -> exitThread.complete(Thread.currentThread().getName()));
        assertThat(watcher.watchedCount()).isEqualTo(1);
        child.destroyForcibly();

        assertThat(exitThread.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("test-pidfd-watcher");
        assertThat(watcher.watchedCount()).isZero();
    }

    @Test
    void shouldFireOnlyForTheProcessThatExited() throws Exception
    {
        final Process first = sleeper();
        final Process second = sleeper();
        final AtomicInteger firstExits = new AtomicInteger();
        final AtomicInteger secondExits = new AtomicInteger();
        watcher.register(pidfdOf(first), firstExits::incrementAndGet);
        watcher.register(pidfdOf(second), secondExits::incrementAndGet);

        first.destroyForcibly();

        await().atMost(PROMPTLY).pollInterval(Duration.ofMillis(5)).until(() -> firstExits.get() == 1);
        assertThat(secondExits).hasValue(0);
        assertThat(watcher.watchedCount()).isEqualTo(1);
    }

    @Test
    void shouldNotRunCallbackAfterDeregister() throws Exception
    {
        final Process child = sleeper();
        final int pidfd = pidfdOf(child);
        final AtomicInteger exits = new AtomicInteger();
        final long key = watcher.register(pidfd, exits::incrementAndGet);

        watcher.deregister(key, pidfd);
        child.destroyForcibly();
        assertThat(child.waitFor(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS)).isTrue();

        // A sentinel registered after the exit fires on the next epoll batch; the deregistered one never does.
        final Process sentinel = sleeper();
        final CompletableFuture<Void> sentinelExit = new CompletableFuture<>();
        watcher.register(pidfdOf(sentinel), () -> sentinelExit.complete(null));
        sentinel.destroyForcibly();
        sentinelExit.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(exits).hasValue(0);
    }

    @Test
    void shouldStopThreadPromptlyOnCloseAndRefuseNewRegistrations() throws Exception
    {
        final int pidfd = pidfdOf(sleeper());
        final long startNs = System.nanoTime();

        watcher.close();
        watcher.close();

        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs)).isLessThan(PidfdWatcher.JOIN_MS);
        assertThat(watcher.isRunning()).isFalse();
        assertThatThrownBy(() -> watcher.register(pidfd, () -> { })).isInstanceOf(ZoneException.class);
    }

    private Process sleeper() throws Exception
    {
        final Process child = new ProcessBuilder("sleep", "1000").start();
        children.add(child);
        return child;
    }

    private int pidfdOf(final Process child)
    {
        final int fd = (int)libc.syscall(LinuxLibC.SYS_PIDFD_OPEN, child.pid(), 0L);
        pidfds.add(fd);
        return fd;
    }
}
