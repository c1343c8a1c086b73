package sledagent.agent.service;

import io.netty.util.Timeout;
import io.netty.util.Timer;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The sd_notify protocol, implemented by the agent itself: {@code READY=1} once it serves,
 * {@code STOPPING=1} when it begins to stop, and {@code WATCHDOG=1} every half {@code WATCHDOG_USEC} while
 * its timer runs (a wedged timer thread stops the pings, and systemd restarts the agent; VMMs keep running).
 * Does nothing when {@code NOTIFY_SOCKET} is not set (not run by systemd).
 */
public final class SystemdNotifier implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(SystemdNotifier.class.getName());

    private final String socket;
    private final long watchdogUs;
    private volatile Timeout ping;
    private volatile boolean closed;

    /** From the environment systemd gives its service: {@code NOTIFY_SOCKET}, {@code WATCHDOG_USEC/PID}. */
    public static SystemdNotifier fromEnvironment(final Map<String, String> env)
    {
        final String socket = env.get("NOTIFY_SOCKET");
        long watchdogUs = 0;
        final String usec = env.get("WATCHDOG_USEC");
        final String pid = env.get("WATCHDOG_PID");
        final boolean forUs = pid == null || pid.equals(Long.toString(ProcessHandle.current().pid()));
        if (usec != null && forUs)
        {
            try
            {
                watchdogUs = Long.parseLong(usec);
            }
            catch (final NumberFormatException ex)
            {
                LOG.warning(() -> "ignoring bad WATCHDOG_USEC '" + usec + "'");
            }
        }
        return new SystemdNotifier(socket, watchdogUs);
    }

    public SystemdNotifier(final String socket, final long watchdogUs)
    {
        this.socket = socket == null || socket.isEmpty() ? null : socket;
        this.watchdogUs = watchdogUs;
    }

    public boolean enabled()
    {
        return socket != null;
    }

    /** Tells systemd the agent is up, and starts the watchdog pings on {@code timer} if asked for. */
    public void ready(final Timer timer)
    {
        send("READY=1\nSTATUS=serving");
        if (watchdogUs > 0 && socket != null)
        {
            schedulePing(timer, Math.max(1, watchdogUs / 2));
        }
    }

    public void stopping()
    {
        send("STOPPING=1\nSTATUS=stopping; VMMs keep running");
    }

    private void schedulePing(final Timer timer, final long periodUs)
    {
        if (closed)
        {
            return;
        }
        ping = timer.newTimeout(t ->
        {
            send("WATCHDOG=1");
            schedulePing(timer, periodUs);
        }, periodUs, TimeUnit.MICROSECONDS);
    }

    /** Sends one notification; a failure is logged, never thrown (systemd's absence must not stop the agent). */
    void send(final String message)
    {
        if (socket == null)
        {
            return;
        }
        try
        {
            UnixDatagram.send(socket, message);
        }
        catch (final RuntimeException ex)
        {
            LOG.warning(() -> "sd_notify to " + socket + " failed: " + ex);
        }
    }

    @Override
    public void close()
    {
        closed = true;
        final Timeout pending = ping;
        if (pending != null)
        {
            pending.cancel();
        }
    }
}
