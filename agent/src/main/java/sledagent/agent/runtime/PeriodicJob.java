package sledagent.agent.runtime;

import io.netty.util.Timeout;
import io.netty.util.Timer;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A job run on a pool every {@code intervalMs}, counted from the end of the previous run, driven by the shared timer
 * (whose thread only hands the job over). A run that throws is logged and the next one still comes; a pool that
 * refuses a run is tried again one interval later. Closing stops the next run (one already running finishes).
 */
final class PeriodicJob implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(PeriodicJob.class.getName());

    /** One run of the job. */
    @FunctionalInterface
    interface Body
    {
        void run() throws InterruptedException;
    }

    private final String what;
    private final Timer timer;
    private final Executor pool;
    private final long intervalMs;
    private final Body body;
    private volatile Timeout next;
    private volatile boolean closed;

    /** {@code what} names the job in the log. */
    PeriodicJob(final String what, final Timer timer, final Executor pool, final long intervalMs, final Body body)
    {
        this.what = what;
        this.timer = timer;
        this.pool = pool;
        this.intervalMs = intervalMs;
        this.body = body;
    }

    /** Schedules the first run one interval from now. */
    void start()
    {
        scheduleNext();
    }

    private void scheduleNext()
    {
        if (closed)
        {
            return;
        }
        next = timer.newTimeout(t ->
        {
            try
            {
                pool.execute(this::runOnce);
            }
            catch (final RejectedExecutionException ex)
            {
                scheduleNext();
            }
        }, intervalMs, TimeUnit.MILLISECONDS);
    }

    private void runOnce()
    {
        try
        {
            body.run();
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        catch (final RuntimeException ex)
        {
            LOG.log(Level.WARNING, what + " failed", ex);
        }
        finally
        {
            scheduleNext();
        }
    }

    @Override
    public void close()
    {
        closed = true;
        final Timeout pending = next;
        if (pending != null)
        {
            pending.cancel();
        }
    }
}
