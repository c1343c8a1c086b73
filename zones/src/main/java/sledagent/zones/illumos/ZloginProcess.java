package sledagent.zones.illumos;

import java.util.concurrent.CompletableFuture;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * A VMM started inside a zone with {@code zlogin -S}, seen from the global zone: the handle is the
 * {@code zlogin} process, whose exit is learnt from {@link Process#onExit()} (illumos has no pidfd; the JDK's
 * own reaper knows when its child is gone, and never signals a reaped pid).
 *
 * <p>{@link #signal} reaches {@code zlogin}, not necessarily the program inside the zone; to stop a zone's
 * processes use {@link IllumosZoneBackend#killAll}, which halts the zone.
 */
final class ZloginProcess implements ZoneProcess
{
    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private final Process process;
    private final long startMs;
    private final CompletableFuture<Void> exited;

    ZloginProcess(final Process process)
    {
        this.process = process;
        this.startMs = startMs(process.toHandle());
        // Completed on the JDK's process reaper thread: stages chained without *Async run there, keep them cheap.
        this.exited = process.onExit().thenApply(ignored -> null);
    }

    @Override
    public long pid()
    {
        return process.pid();
    }

    /**
     * When {@code zlogin} started, in milliseconds since the epoch (illumos {@code psinfo.pr_start}, through
     * {@link ProcessHandle.Info#startInstant()}), 0 if unknown: illumos has no boot-relative ticks to give, and only
     * this backend compares the value ({@link IllumosZoneBackend#adopt}).
     */
    @Override
    public long startTicks()
    {
        return startMs;
    }

    /** A process's start in milliseconds since the epoch, or 0 if the platform cannot tell (or it is gone). */
    static long startMs(final ProcessHandle handle)
    {
        return handle.info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L);
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
        return process.isAlive();
    }

    /**
     * Sends SIGKILL ({@link Process#destroyForcibly()}) or SIGTERM ({@link Process#destroy()}) to {@code zlogin}.
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
        if (!process.isAlive())
        {
            return false;
        }
        if (signo == SIGKILL)
        {
            process.destroyForcibly();
        }
        else
        {
            process.destroy();
        }
        return true;
    }

    /** Nothing to release: stdin, stdout and stderr are files, not pipes. */
    @Override
    public void close()
    {
    }

    @Override
    public String toString()
    {
        return "ZloginProcess[pid=" + pid() + (process.isAlive() ? "]" : ", exited]");
    }
}
