package sledagent.perf;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.List;

/**
 * {@code java -cp benchmarks.jar sledagent.perf.Subreaper COMMAND...}: runs COMMAND as a child of a process that
 * made itself a child subreaper ({@code PR_SET_CHILD_SUBREAPER}) and reaps every orphan reparented to it at once.
 *
 * <p>Why it exists: libvirt double-forks QEMU, so a QEMU it kills is reparented to the nearest subreaper, or to PID
 * 1. This sandbox's PID 1 reaps about 1.6 s late, and {@code virsh destroy} waits (polling {@code kill(pid, 0)} every
 * 200 ms) until the zombie is gone: under PID 1 it measures the sandbox, not libvirt. Under this wrapper it measures
 * libvirt as a host whose init reaps promptly would see it.
 *
 * <p>When its standard input closes (its parent ended or closed it) it sends SIGTERM to COMMAND, and SIGKILL
 * {@link #STOP_WAIT_MS} later if it is still there; it exits once no descendant is left to reap.
 */
public final class Subreaper
{
    private static final int PR_SET_CHILD_SUBREAPER = 36;
    private static final int ECHILD = 10;
    private static final int EINTR = 4;
    private static final int SIGTERM = 15;
    private static final int SIGKILL = 9;
    private static final long STOP_WAIT_MS = 10_000;

    /** The few libc calls it needs. */
    interface LibC extends Library
    {
        int prctl(int option, long arg2, long arg3, long arg4, long arg5) throws LastErrorException;

        int waitpid(int pid, int[] status, int options) throws LastErrorException;

        int kill(int pid, int sig) throws LastErrorException;
    }

    private Subreaper()
    {
    }

    /**
     * Entry point.
     *
     * @param args the command to run under the subreaper
     * @throws Exception if the command cannot be started
     */
    public static void main(final String[] args) throws Exception
    {
        if (args.length == 0)
        {
            System.err.println("usage: Subreaper COMMAND [ARG...]");
            System.exit(2);
        }
        final LibC libc = Native.load("c", LibC.class);
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        final List<String> command = Arrays.asList(args);
        final Process child = new ProcessBuilder(command).inheritIO().redirectInput(ProcessBuilder.Redirect.PIPE)
            .start();
        final int childPid = Math.toIntExact(child.pid());
        // SIGTERM to this JVM stops the command too, rather than orphaning it.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> signal(libc, childPid, SIGTERM), "stop-command"));
        final Thread watcher = new Thread(() ->
        {
            awaitEof(System.in);
            stop(libc, childPid);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();
        // Reap every orphan the moment it exits (a blocking wait: a poll would add its period to every reaping it
        // measures), until no descendant is left. The JDK also waits for the direct child; whoever reaps it first
        // wins, and either way it is reaped once.
        while (reapBlocking(libc))
        {
            // Next one.
        }
    }

    /** SIGTERM to the command; SIGKILL if it is still there {@link #STOP_WAIT_MS} later. */
    private static void stop(final LibC libc, final int childPid)
    {
        signal(libc, childPid, SIGTERM);
        try
        {
            Thread.sleep(STOP_WAIT_MS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        signal(libc, childPid, SIGKILL);
    }

    /** Waits for any descendant to exit and reaps it; false once there is none left at all. */
    private static boolean reapBlocking(final LibC libc)
    {
        try
        {
            libc.waitpid(-1, new int[1], 0);
            return true;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == EINTR)
            {
                return true;
            }
            if (ex.getErrorCode() == ECHILD)
            {
                return false;
            }
            throw ex;
        }
    }

    private static void signal(final LibC libc, final int pid, final int sig)
    {
        try
        {
            libc.kill(pid, sig);
        }
        catch (final LastErrorException ex)
        {
            // Already gone.
        }
    }

    private static void awaitEof(final InputStream in)
    {
        final byte[] buffer = new byte[64];
        try
        {
            while (in.read(buffer) >= 0)
            {
                // Anything written is ignored: only the end matters.
            }
        }
        catch (final IOException ex)
        {
            // A broken stdin is an end too.
        }
    }
}
