package sledagent.hypervisor.server;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A Propolis server's threads: named daemons, and an HTTP pool that grows for long polls and shrinks when idle. */
public final class ServerThreads
{
    private ServerThreads()
    {
    }

    /**
     * A pool that hands a request to an idle thread if there is one, else starts a new thread up to
     * {@code maxThreads}, and only then queues. (A plain ThreadPoolExecutor queues before it grows, so one blocked
     * long poll could hold up every other request; a plain cached pool never stops growing.) Idle threads die after
     * {@code keepAliveS}.
     *
     * @param name       thread name prefix
     * @param maxThreads upper bound on threads
     * @param keepAliveS idle time after which a thread ends
     * @return the pool
     */
    public static ExecutorService growingPool(final String name, final int maxThreads, final long keepAliveS)
    {
        final LinkedTransferQueue<Runnable> queue = new LinkedTransferQueue<>()
        {
            @Override
            public boolean offer(final Runnable task)
            {
                // Only to a thread already waiting; "false" makes the executor start a new thread instead.
                return tryTransfer(task);
            }
        };
        return new ThreadPoolExecutor(0, maxThreads, keepAliveS, TimeUnit.SECONDS, queue, daemons(name),
            // At maxThreads: wait in the queue for the next free thread.
            (task, executor) -> queue.put(task));
    }

    /**
     * @param name thread name prefix
     * @return a factory of daemon threads named {@code name-N}
     */
    public static ThreadFactory daemons(final String name)
    {
        final AtomicInteger count = new AtomicInteger();
        return runnable ->
        {
            final Thread thread = new Thread(runnable, name + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }
}
