package sledagent.agent.vmm;

import java.util.concurrent.CompletableFuture;
import sledagent.zones.ZoneProcess;

/** A zone process whose exit the test triggers. */
final class FakeZoneProcess implements ZoneProcess
{
    private final CompletableFuture<Void> exited = new CompletableFuture<>();
    private volatile boolean closed;

    @Override
    public long pid()
    {
        return 4242;
    }

    @Override
    public CompletableFuture<Void> exited()
    {
        return exited;
    }

    @Override
    public boolean isAlive()
    {
        return !exited.isDone();
    }

    @Override
    public boolean signal(final int signo)
    {
        return isAlive();
    }

    @Override
    public void close()
    {
        closed = true;
    }

    void exit()
    {
        exited.complete(null);
    }

    boolean closed()
    {
        return closed;
    }
}
