package sledagent.agent.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.jna.Memory;
import io.netty.util.HashedWheelTimer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The sd_notify protocol against a real AF_UNIX datagram socket, as systemd's would receive it. */
class SystemdNotifierTest
{
    private static final int MSG_DONTWAIT = 0x40;

    private Path dir;
    private int fd = -1;

    @BeforeEach
    void setUp() throws Exception
    {
        dir = Files.createTempDirectory("notify");
    }

    @AfterEach
    void tearDown() throws Exception
    {
        if (fd >= 0)
        {
            UnixDatagram.LibC.INSTANCE.close(fd);
        }
        try (var files = Files.list(dir))
        {
            for (final Path file : files.toList())
            {
                Files.deleteIfExists(file);
            }
        }
        Files.deleteIfExists(dir);
    }

    @Test
    void shouldSendReadyWatchdogAndStoppingToAPathSocket() throws Exception
    {
        final String socket = dir.resolve("notify.sock").toString();
        bind(socket);
        final HashedWheelTimer timer = new HashedWheelTimer(10, TimeUnit.MILLISECONDS);
        try (SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", socket,
            "WATCHDOG_USEC", "100000", "WATCHDOG_PID", Long.toString(ProcessHandle.current().pid()))))
        {
            assertThat(notifier.enabled()).isTrue();
            notifier.ready(timer);
            assertThat(receive(2_000)).startsWith("READY=1");
            // Pings every WATCHDOG_USEC / 2 = 50 ms.
            assertThat(receive(2_000)).isEqualTo("WATCHDOG=1");
            assertThat(receive(2_000)).isEqualTo("WATCHDOG=1");
            notifier.stopping();
            final List<String> rest = drain(2_000, "STOPPING=1");
            assertThat(rest.get(rest.size() - 1)).startsWith("STOPPING=1");
        }
        finally
        {
            timer.stop();
        }
    }

    @Test
    void shouldReachAnAbstractSocket() throws Exception
    {
        final String socket = "@sled-agent-test-" + UUID.randomUUID();
        bind(socket);
        new SystemdNotifier(socket, 0).send("READY=1");
        assertThat(receive(2_000)).isEqualTo("READY=1");
    }

    @Test
    void shouldDoNothingWithoutNotifySocketAndNeverThrowForAMissingSocket()
    {
        final SystemdNotifier none = SystemdNotifier.fromEnvironment(Map.of());
        assertThat(none.enabled()).isFalse();
        none.send("READY=1");
        final SystemdNotifier missing = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "/nonexistent/sock"));
        // A socket that is not there is logged, never thrown: systemd's absence must not stop the agent.
        missing.send("READY=1");
    }

    @Test
    void shouldIgnoreAWatchdogMeantForAnotherPid() throws Exception
    {
        final String socket = dir.resolve("notify.sock").toString();
        bind(socket);
        final HashedWheelTimer timer = new HashedWheelTimer(10, TimeUnit.MILLISECONDS);
        // WATCHDOG_PID names another process (a parent that exec'd us, say): the pings are its job, not ours.
        // A ping would be due every 50 ms, so a notifier that ignored the pid would send several within 300 ms.
        try (SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", socket,
            "WATCHDOG_USEC", "100000", "WATCHDOG_PID", Long.toString(ProcessHandle.current().pid() + 1))))
        {
            assertThat(notifier.enabled()).isTrue();
            notifier.ready(timer);
            assertThat(receive(2_000)).startsWith("READY=1");
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                .until(() -> poll() == null);
        }
        finally
        {
            // Close the receiving end first: a send into a full socket would block the timer thread, and stop().
            UnixDatagram.LibC.INSTANCE.close(fd);
            fd = -1;
            timer.stop();
        }
    }

    private void bind(final String socket)
    {
        fd = UnixDatagram.LibC.INSTANCE.socket(UnixDatagram.AF_UNIX, UnixDatagram.SOCK_DGRAM, 0);
        final Memory address = UnixDatagram.address(socket);
        UnixDatagram.LibC.INSTANCE.bind(fd, address, UnixDatagram.addressLength(socket));
    }

    /** One datagram if one is waiting, else null. */
    private String poll()
    {
        final byte[] buffer = new byte[4096];
        try
        {
            final long length = UnixDatagram.LibC.INSTANCE.recv(fd, buffer, buffer.length, MSG_DONTWAIT);
            return new String(buffer, 0, (int)length, StandardCharsets.UTF_8);
        }
        catch (final com.sun.jna.LastErrorException ex)
        {
            return null;
        }
    }

    private String receive(final long boundMs) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(boundMs);
        while (System.nanoTime() - deadlineNs < 0)
        {
            final String message = poll();
            if (message != null)
            {
                return message;
            }
            Thread.sleep(2);
        }
        throw new AssertionError("no datagram within " + boundMs + " ms");
    }

    private List<String> drain(final long boundMs, final String until) throws InterruptedException
    {
        final List<String> messages = new ArrayList<>();
        String message;
        do
        {
            message = receive(boundMs);
            messages.add(message);
        }
        while (!message.startsWith(until));
        return messages;
    }
}
