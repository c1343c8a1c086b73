package sledagent.zones.fake;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import sledagent.zones.ZoneProcess;

/**
 * A process of a {@link FakeZoneBackend}: nothing runs. It "exits" when the test calls {@link #exit()}, when
 * it is sent SIGKILL or SIGTERM, or when its zone is killed (unless the zone is scripted not to empty).
 * Thread-safe.
 */
public final class FakeZoneProcess implements ZoneProcess
{
    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private final FakeZoneBackend backend;
    private final String zoneName;
    private final long pid;
    private final List<String> argv;
    private final Path logFile;
    private final CompletableFuture<Void> exited = new CompletableFuture<>();
    private final List<Integer> signals = new ArrayList<>(); // guarded by this
    private volatile boolean closed;

    FakeZoneProcess(final FakeZoneBackend backend, final String zoneName, final long pid, final List<String> argv,
        final Path logFile)
    {
        this.backend = backend;
        this.zoneName = zoneName;
        this.pid = pid;
        this.argv = List.copyOf(argv);
        this.logFile = logFile;
    }

    /** A made-up pid, unique within its backend. */
    @Override
    public long pid()
    {
        return pid;
    }

    /** A fresh copy each call, as the real backends do. */
    @Override
    public CompletableFuture<Void> exited()
    {
        return exited.copy();
    }

    @Override
    public boolean isAlive()
    {
        return !exited.isDone();
    }

    /**
     * Records the signal; SIGKILL and SIGTERM make the process exit (SIGKILL not if its zone is scripted not to
     * empty: a process stuck in the kernel ignores it too).
     *
     * @return false if it had already exited.
     */
    @Override
    public boolean signal(final int signo)
    {
        synchronized (this)
        {
            signals.add(signo);
        }
        if (!isAlive())
        {
            return false;
        }
        if (signo == SIGTERM || (signo == SIGKILL && !backend.refusesToEmpty(zoneName)))
        {
            exit();
        }
        return true;
    }

    /** Marks the handle closed; the "process" is not touched. */
    @Override
    public void close()
    {
        closed = true;
    }

    /** Test trigger: the process exits now (by itself, or because a kill reached it). Idempotent. */
    public void exit()
    {
        if (exited.complete(null))
        {
            backend.onExit(this);
        }
    }

    /** The zone it was spawned into. */
    public String zoneName()
    {
        return zoneName;
    }

    /** The argv it was spawned with. */
    public List<String> argv()
    {
        return argv;
    }

    /** The log file it was given. */
    public Path logFile()
    {
        return logFile;
    }

    /** Signals sent to it through {@link #signal}, in order. */
    public synchronized List<Integer> signals()
    {
        return List.copyOf(signals);
    }

    /** True once {@link #close()} was called. */
    public boolean isClosed()
    {
        return closed;
    }

    @Override
    public String toString()
    {
        return "FakeZoneProcess[pid=" + pid + ", zone=" + zoneName + (isAlive() ? "]" : ", exited]");
    }
}
