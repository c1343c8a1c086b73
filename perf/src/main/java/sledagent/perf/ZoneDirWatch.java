package sledagent.perf;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * When each zone directory under a root disappeared, from inotify ({@code rmdir} in cgroupfs raises
 * {@code IN_DELETE} on the parent): costs no CPU while waiting, unlike polling the directory, which on a 2-core
 * machine would compete with the agent being measured. The time is taken when this watcher's thread wakes
 * (tens of microseconds after the {@code rmdir}).
 */
final class ZoneDirWatch implements AutoCloseable
{
    private final WatchService service;
    private final Map<String, Long> deletedAtNs = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean overflowed;

    ZoneDirWatch(final Path root) throws IOException
    {
        service = root.getFileSystem().newWatchService();
        try
        {
            root.register(service, StandardWatchEventKinds.ENTRY_DELETE);
        }
        catch (final IOException ex)
        {
            service.close();
            throw ex;
        }
        thread = new Thread(this::loop, "zone-dir-watch");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop()
    {
        try
        {
            while (true)
            {
                final WatchKey key = service.take();
                final long now = System.nanoTime();
                for (final WatchEvent<?> event : key.pollEvents())
                {
                    if (event.kind() == StandardWatchEventKinds.OVERFLOW)
                    {
                        overflowed = true;
                    }
                    else
                    {
                        deletedAtNs.putIfAbsent(event.context().toString(), now);
                    }
                }
                key.reset();
            }
        }
        catch (final InterruptedException | ClosedWatchServiceException ex)
        {
            // Closed: done.
        }
    }

    /** {@link System#nanoTime()} when {@code name} was removed, waiting at most {@code boundMs}; -1 if not seen. */
    long awaitDeleted(final String name, final long boundMs) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(boundMs);
        while (true)
        {
            final Long at = deletedAtNs.get(name);
            if (at != null)
            {
                return at;
            }
            if (System.nanoTime() - deadline >= 0)
            {
                return -1;
            }
            Thread.sleep(1);
        }
    }

    boolean overflowed()
    {
        return overflowed;
    }

    @Override
    public void close() throws IOException
    {
        service.close();
    }
}
