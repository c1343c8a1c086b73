package sledagent.zones.illumos;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * A {@code zlogin} started by an earlier run of the agent, taken hold of again by pid and start time
 * ({@link IllumosZoneBackend#adopt}). It is not this JVM's child, so its exit is learnt from
 * {@link ProcessHandle#onExit()}, which the JDK polls for a process it did not start (every 0.3 s at first, never
 * less often than every 5 s) and which also ends if the pid comes to name a process with another start time. The
 * JDK checks the start time again before every signal, so a recycled pid is never signalled.
 */
final class AdoptedZlogin implements ZoneProcess
{
    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private final ProcessHandle handle;
    private final long startMs;
    private final CompletableFuture<Void> exited;

    private AdoptedZlogin(final ProcessHandle handle, final long startMs)
    {
        this.handle = handle;
        this.startMs = startMs;
        // Completed on a JDK thread: stages chained without *Async run there, keep them cheap.
        this.exited = handle.onExit().thenApply(ignored -> null);
    }

    /**
     * The process {@code pid} if it is alive and started at {@code startMs} (milliseconds since the epoch, as
     * {@link ZloginProcess#startTicks()} recorded it); null if it is gone or the pid names another process now.
     */
    static AdoptedZlogin of(final long pid, final long startMs)
    {
        final Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isEmpty() || ZloginProcess.startMs(handle.get()) != startMs)
        {
            return null;
        }
        return new AdoptedZlogin(handle.get(), startMs);
    }

    @Override
    public long pid()
    {
        return handle.pid();
    }

    @Override
    public long startTicks()
    {
        return startMs;
    }

    /** A fresh copy each call, so one caller completing its future cannot fake an exit for the others. */
    @Override
    public CompletableFuture<Void> exited()
    {
        return exited.copy();
    }

    @Override
    public boolean isAlive()
    {
        return handle.isAlive();
    }

    /**
     * Sends SIGKILL ({@link ProcessHandle#destroyForcibly()}) or SIGTERM ({@link ProcessHandle#destroy()}).
     *
     * @throws ZoneException for any other signal: the JDK can send only these two.
     */
    @Override
    public boolean signal(final int signo)
    {
        if (signo != SIGKILL && signo != SIGTERM)
        {
            throw new ZoneException("signal " + signo + " to zlogin pid " + pid() + ": only SIGKILL and SIGTERM");
        }
        if (!handle.isAlive())
        {
            return false;
        }
        return signo == SIGKILL ? handle.destroyForcibly() : handle.destroy();
    }

    /** Nothing to release. */
    @Override
    public void close()
    {
    }

    @Override
    public String toString()
    {
        return "AdoptedZlogin[pid=" + pid() + (handle.isAlive() ? "]" : ", exited]");
    }
}
