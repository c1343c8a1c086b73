package sledagent.agent.vmm;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;

/** An executor stepped by hand: it only queues; {@link #runAll()} runs the queue (and what that queues). */
final class FakeExecutor implements Executor
{
    private final Queue<Runnable> queue = new ArrayDeque<>();

    @Override
    public synchronized void execute(final Runnable command)
    {
        queue.add(command);
    }

    synchronized int pending()
    {
        return queue.size();
    }

    /** Runs queued tasks until none is left; returns how many ran. */
    int runAll()
    {
        int ran = 0;
        while (true)
        {
            final Runnable next;
            synchronized (this)
            {
                next = queue.poll();
            }
            if (next == null)
            {
                return ran;
            }
            next.run();
            ran++;
            if (ran > 10_000)
            {
                throw new IllegalStateException("executor does not settle");
            }
        }
    }
}
