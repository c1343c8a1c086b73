package sledagent.perf;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Everything a measurement run must undo (agents, zones, zone roots, temporary directories), undone in reverse
 * order exactly once: from {@code try}-with-resources on the way out, or from a shutdown hook if the JVM is
 * interrupted (Ctrl-C, SIGTERM). A failing step is reported and the rest still run.
 */
final class Cleanup implements AutoCloseable
{
    /** One step to undo. */
    interface Step
    {
        void run() throws Exception;
    }

    private record Named(String what, Step step)
    {
    }

    private final Deque<Named> steps = new ArrayDeque<>();
    private final Thread hook = new Thread(this::close, "stop-latency-cleanup");
    private boolean closed;

    Cleanup()
    {
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Registers {@code step}; it runs before every step registered earlier. */
    synchronized void push(final String what, final Step step)
    {
        if (closed)
        {
            throw new IllegalStateException("cleanup already ran; cannot register " + what);
        }
        steps.push(new Named(what, step));
    }

    @Override
    public void close()
    {
        synchronized (this)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            while (!steps.isEmpty())
            {
                final Named named = steps.pop();
                try
                {
                    named.step().run();
                }
                catch (final Exception | Error ex)
                {
                    System.err.println("cleanup: " + named.what() + " failed: " + ex);
                }
            }
        }
        if (Thread.currentThread() != hook)
        {
            try
            {
                Runtime.getRuntime().removeShutdownHook(hook);
            }
            catch (final IllegalStateException ex)
            {
                // Already shutting down: the hook is running or ran (and found nothing left to do).
            }
        }
    }
}
