package sledagent.zones;

import java.util.concurrent.CompletableFuture;

/**
 * The main process of a zone, held by a pidfd on Linux so that a recycled pid is never signalled.
 * Exit is seen from the process itself (the pidfd turning readable), never by waiting to reap it.
 */
public interface ZoneProcess extends AutoCloseable
{
    /** The host pid (stable for the life of this handle). */
    long pid();

    /**
     * The process's start time in clock ticks after boot (0 if unknown): with {@link #pid()} it names this one
     * process for good, which is what a restarted agent needs to adopt it again.
     */
    default long startTicks()
    {
        return 0;
    }

    /** Completes (with nothing) once the process has exited. Never completes exceptionally. */
    CompletableFuture<Void> exited();

    /** False once the process has exited. */
    boolean isAlive();

    /** Sends {@code signo} through the pidfd; false if the process had already exited. */
    boolean signal(int signo);

    /** Releases the pidfd and stops watching. Does not touch the process. */
    @Override
    void close();
}
