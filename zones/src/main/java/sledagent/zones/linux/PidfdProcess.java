package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.ESRCH;
import static sledagent.zones.linux.LinuxLibC.POLLIN;
import static sledagent.zones.linux.LinuxLibC.SYS_PIDFD_OPEN;
import static sledagent.zones.linux.LinuxLibC.SYS_PIDFD_SEND_SIGNAL;

import com.sun.jna.LastErrorException;
import java.util.concurrent.CompletableFuture;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * A {@link ZoneProcess} held by a pidfd: signals go through the pidfd (never to a pid that may have been
 * recycled) and exit is learnt from the pidfd turning readable, never from reaping.
 *
 * <p>{@link #exited()} is normally completed on the {@link PidfdWatcher} thread, so stages chained on it
 * with the non-async methods run there and must be cheap; use the {@code *Async} variants for real work.
 * {@link #isAlive()} and {@link #signal(int)} also complete it when they notice the exit themselves, which
 * keeps them truthful after the watcher has been closed.
 */
public final class PidfdProcess implements ZoneProcess
{
    private final LinuxLibC libc;
    private final long pid;
    private final long startTicks;
    private final CompletableFuture<Void> exited = new CompletableFuture<>();
    private int pidfd;          // guarded by this; -1 once closed (or never opened)
    private long watchKey;      // guarded by this; 0 when not registered
    private PidfdWatcher watcher; // guarded by this

    private PidfdProcess(final LinuxLibC libc, final long pid, final int pidfd)
    {
        this(libc, pid, pidfd, ProcStat.read(pid).map(ProcStat::startTicks).orElse(0L));
    }

    private PidfdProcess(final LinuxLibC libc, final long pid, final int pidfd, final long startTicks)
    {
        this.libc = libc;
        this.pid = pid;
        this.pidfd = pidfd;
        this.startTicks = startTicks;
    }

    /**
     * Takes hold of a process that is not our child (one started by an earlier run of the agent): opens its
     * pidfd, then checks that the pid still names the process that started at {@code startTicks}. A pidfd
     * opened before the check names whatever held the pid then; if the start time still matches after the open,
     * that was our process, so the fd can never name a newcomer that reused the pid.
     *
     * @return a watched handle, or null if the process is gone or the pid names another process now.
     */
    static PidfdProcess adopt(final LinuxLibC libc, final PidfdWatcher watcher, final long pid,
        final long startTicks)
    {
        final int fd;
        try
        {
            fd = (int)libc.syscall(SYS_PIDFD_OPEN, pid, 0L);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return null;
            }
            throw new ZoneException("pidfd_open(" + pid + ")", ex.getErrorCode(), ex);
        }
        final boolean same = ProcStat.read(pid).filter(stat -> stat.startTicks() == startTicks && !stat.isZombie())
            .isPresent();
        if (!same)
        {
            LinuxLibC.closeQuietly(libc, fd);
            return null;
        }
        final PidfdProcess handle = new PidfdProcess(libc, pid, fd, startTicks);
        try
        {
            handle.watch(watcher);
        }
        catch (final RuntimeException ex)
        {
            handle.close();
            throw ex;
        }
        return handle;
    }

    /**
     * Takes hold of a freshly started child {@code process} (see {@link #open(LinuxLibC, PidfdWatcher, Process)}).
     *
     * @param watcher where {@link #exited()} is completed from; null for an unwatched handle, whose
     *                {@link #exited()} completes only when {@link #isAlive()} or {@link #signal} notices the exit.
     * @throws ZoneException if the platform is unsupported or {@code pidfd_open} fails unexpectedly.
     */
    public static ZoneProcess of(final PidfdWatcher watcher, final Process process)
    {
        return open(LinuxLibC.instance(), watcher, process);
    }

    /**
     * Takes hold of a freshly started child: opens its pidfd, then checks that {@code process} has not been
     * reaped yet (the pid-reuse guard). Until the JDK reaps our child its pid cannot be reused, so if
     * {@code process.isAlive()} still holds after the open, the pidfd names that child. (The JDK marks the
     * process dead just after its reaper's {@code waitpid}; a reuse inside that gap would need the whole pid
     * space to wrap within microseconds.)
     *
     * @return a watched handle, or an already-exited one if the child was gone before the pidfd was opened.
     */
    static PidfdProcess open(final LinuxLibC libc, final PidfdWatcher watcher, final Process process)
    {
        final long pid = process.pid();
        final int fd;
        try
        {
            fd = (int)libc.syscall(SYS_PIDFD_OPEN, pid, 0L);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return exitedAlready(libc, pid);
            }
            throw new ZoneException("pidfd_open(" + pid + ")", ex.getErrorCode(), ex);
        }
        if (!process.isAlive())
        {
            // Reaped before or while we opened it: the fd may name a process that reused the pid.
            LinuxLibC.closeQuietly(libc, fd);
            return exitedAlready(libc, pid);
        }
        final PidfdProcess handle = new PidfdProcess(libc, pid, fd);
        if (watcher == null)
        {
            return handle;
        }
        try
        {
            handle.watch(watcher);
        }
        catch (final RuntimeException ex)
        {
            handle.close();
            throw ex;
        }
        return handle;
    }

    private static PidfdProcess exitedAlready(final LinuxLibC libc, final long pid)
    {
        final PidfdProcess handle = new PidfdProcess(libc, pid, -1);
        handle.exited.complete(null);
        return handle;
    }

    private synchronized void watch(final PidfdWatcher pidfdWatcher)
    {
        watchKey = pidfdWatcher.register(pidfd, this::onExit);
        watcher = pidfdWatcher;
    }

    private void onExit()
    {
        exited.complete(null);
    }

    @Override
    public long pid()
    {
        return pid;
    }

    @Override
    public long startTicks()
    {
        return startTicks;
    }

    /** A fresh copy each call, so one caller completing its future cannot fake an exit for the others. */
    @Override
    public CompletableFuture<Void> exited()
    {
        return exited.copy();
    }

    /** After {@link #close()} this reports the last state seen. */
    @Override
    public synchronized boolean isAlive()
    {
        if (exited.isDone() || pidfd < 0)
        {
            return !exited.isDone();
        }
        return !checkExited();
    }

    /**
     * Sends {@code signo} through the pidfd. Note that the main process is {@code unshare}, which blocks
     * SIGINT and SIGTERM while its child runs; SIGKILL (or any unblocked fatal signal) takes the namespace down.
     *
     * @throws ZoneException if this handle is closed, or on an error other than "already exited".
     */
    @Override
    public synchronized boolean signal(final int signo)
    {
        if (exited.isDone())
        {
            return false;
        }
        if (pidfd < 0)
        {
            throw new ZoneException("signal " + signo + " to pid " + pid + ": handle is closed");
        }
        // A zombie accepts signals silently, so look for the exit first.
        if (checkExited())
        {
            return false;
        }
        try
        {
            libc.syscall(SYS_PIDFD_SEND_SIGNAL, (long)pidfd, (long)signo, 0L, 0L);
            return true;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                exited.complete(null);
                return false;
            }
            throw new ZoneException("pidfd_send_signal(" + pid + ", " + signo + ")", ex.getErrorCode(), ex);
        }
    }

    /** Deregisters from the watcher and closes the pidfd. Idempotent; the process is left alone. */
    @Override
    public synchronized void close()
    {
        if (pidfd < 0)
        {
            return;
        }
        if (watcher != null)
        {
            watcher.deregister(watchKey, pidfd);
            watcher = null;
        }
        LinuxLibC.closeQuietly(libc, pidfd);
        pidfd = -1;
    }

    // Caller holds the lock and pidfd is open.
    private boolean checkExited()
    {
        if ((LinuxLibC.pollOne(libc, pidfd, POLLIN, 0) & POLLIN) != 0)
        {
            exited.complete(null);
            return true;
        }
        return false;
    }

    @Override
    public String toString()
    {
        return "ZoneProcess[pid=" + pid + (exited.isDone() ? ", exited]" : "]");
    }
}
