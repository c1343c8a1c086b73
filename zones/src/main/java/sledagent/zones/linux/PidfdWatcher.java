package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.EAGAIN;
import static sledagent.zones.linux.LinuxLibC.EFD_CLOEXEC;
import static sledagent.zones.linux.LinuxLibC.EFD_NONBLOCK;
import static sledagent.zones.linux.LinuxLibC.EINTR;
import static sledagent.zones.linux.LinuxLibC.EPOLLIN;
import static sledagent.zones.linux.LinuxLibC.EPOLLONESHOT;
import static sledagent.zones.linux.LinuxLibC.EPOLL_CLOEXEC;
import static sledagent.zones.linux.LinuxLibC.EPOLL_CTL_ADD;
import static sledagent.zones.linux.LinuxLibC.EPOLL_CTL_DEL;
import static sledagent.zones.linux.LinuxLibC.EPOLL_DATA_OFFSET;
import static sledagent.zones.linux.LinuxLibC.EPOLL_EVENT_SIZE;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.lang.System.Logger.Level;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import sledagent.zones.ZoneException;

/**
 * One daemon thread that learns of process exits: it waits in {@code epoll_wait} on every registered pidfd
 * (a pidfd turns readable when its process exits) plus an eventfd used to wake it for shutdown.
 *
 * <p>Exit callbacks run <b>on the watcher thread</b>, one after another, so they must be cheap and must not
 * block (complete a future, offer to a queue); a slow callback delays every other exit. Registration calls
 * {@code epoll_ctl} directly from the caller's thread, which the kernel allows while another thread is in
 * {@code epoll_wait}, so no hand-off to the watcher is needed.
 *
 * <p>Everything is bounded: at most {@link #MAX_WATCHED} pidfds, each {@code epoll_wait} at most
 * {@link #WAIT_MS}, and {@link #close()} waits at most {@link #JOIN_MS} for the thread.
 */
public final class PidfdWatcher implements AutoCloseable
{
    /** Most processes watched at once; far above the VMMs one sled can hold. */
    static final int MAX_WATCHED = 4096;
    /** Longest single {@code epoll_wait}; a close wakes the thread sooner through the eventfd. */
    static final int WAIT_MS = 1000;
    /** Longest {@link #close()} waits for the thread to stop. */
    static final long JOIN_MS = 2000;

    private static final System.Logger LOG = System.getLogger(PidfdWatcher.class.getName());
    private static final int MAX_EVENTS = 64;
    // Key 0 is the eventfd; pidfd registrations get 1, 2, ... so a stale event never matches a reused fd number.
    private static final long WAKE_KEY = 0;

    private final LinuxLibC libc;
    private final Object lock = new Object();
    private final Map<Long, Runnable> watched = new ConcurrentHashMap<>();
    private final int epollFd;
    private final int wakeFd;
    private final Thread thread;
    private volatile boolean running = true;
    private long nextKey = 1;       // guarded by lock
    private boolean fdsClosed;      // guarded by lock

    /**
     * Opens the epoll and eventfd descriptors and starts the daemon thread.
     *
     * @param threadName name of the watcher thread, for thread dumps.
     * @throws ZoneException if the platform is unsupported or the descriptors cannot be opened.
     */
    public PidfdWatcher(final String threadName)
    {
        libc = LinuxLibC.instance();
        try
        {
            epollFd = libc.epoll_create1(EPOLL_CLOEXEC);
        }
        catch (final LastErrorException ex)
        {
            throw new ZoneException("epoll_create1", ex.getErrorCode(), ex);
        }
        try
        {
            wakeFd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            control(EPOLL_CTL_ADD, wakeFd, EPOLLIN, WAKE_KEY);
        }
        catch (final LastErrorException ex)
        {
            LinuxLibC.closeQuietly(libc, epollFd);
            throw new ZoneException("eventfd for the pidfd watcher", ex.getErrorCode(), ex);
        }
        thread = new Thread(this::run, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Watches {@code pidfd} until its process exits, then runs {@code onExit} once on the watcher thread.
     * The caller keeps owning the fd and must {@link #deregister} before closing it.
     *
     * @return the registration key for {@link #deregister}.
     * @throws ZoneException if the watcher is closed, full, or epoll refuses the fd.
     */
    long register(final int pidfd, final Runnable onExit)
    {
        synchronized (lock)
        {
            if (!running || fdsClosed)
            {
                throw new ZoneException("pidfd watcher is closed");
            }
            if (watched.size() >= MAX_WATCHED)
            {
                throw new ZoneException("pidfd watcher already watches " + MAX_WATCHED + " processes");
            }
            final long key = nextKey++;
            // Into the map first: an already-exited process raises its event as soon as it is added.
            watched.put(key, onExit);
            try
            {
                // One-shot: a pidfd stays readable forever, so the event must fire once, not on every wait.
                control(EPOLL_CTL_ADD, pidfd, EPOLLIN | EPOLLONESHOT, key);
            }
            catch (final LastErrorException ex)
            {
                watched.remove(key);
                throw new ZoneException("epoll_ctl(ADD) pidfd " + pidfd, ex.getErrorCode(), ex);
            }
            return key;
        }
    }

    /**
     * Stops watching {@code pidfd}; call before closing it. An {@code onExit} that the watcher has already
     * picked up may still run (once); otherwise it never will.
     */
    void deregister(final long key, final int pidfd)
    {
        synchronized (lock)
        {
            watched.remove(key);
            if (fdsClosed)
            {
                // The epoll fd is gone and its number may belong to someone else now: never touch it.
                return;
            }
            try
            {
                control(EPOLL_CTL_DEL, pidfd, 0, 0);
            }
            catch (final LastErrorException ex)
            {
                LOG.log(Level.DEBUG, "epoll_ctl(DEL) pidfd {0}: errno {1}", pidfd, ex.getErrorCode());
            }
        }
    }

    /** Number of registrations whose process has not been seen to exit. */
    public int watchedCount()
    {
        return watched.size();
    }

    /** True until {@link #close()} (or a fatal epoll error) stops the thread. */
    public boolean isRunning()
    {
        return running && thread.isAlive();
    }

    /**
     * Stops the thread, waiting at most {@link #JOIN_MS}; pending registrations never fire. The thread closes
     * its own descriptors on the way out, so no fd is closed while it may still be in {@code epoll_wait}.
     */
    @Override
    public void close()
    {
        synchronized (lock)
        {
            running = false;
            wake();
        }
        if (Thread.currentThread() == thread)
        {
            return; // Called from an exit callback: the loop ends after this batch.
        }
        try
        {
            thread.join(JOIN_MS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive())
        {
            LOG.log(Level.WARNING, "pidfd watcher {0} did not stop within {1} ms", thread.getName(), JOIN_MS);
        }
    }

    private void run()
    {
        final Memory events = new Memory((long)MAX_EVENTS * EPOLL_EVENT_SIZE);
        try
        {
            while (running)
            {
                final int ready;
                try
                {
                    ready = libc.epoll_wait(epollFd, events, MAX_EVENTS, WAIT_MS);
                }
                catch (final LastErrorException ex)
                {
                    if (ex.getErrorCode() == EINTR)
                    {
                        continue;
                    }
                    LOG.log(Level.ERROR, "pidfd watcher stops: epoll_wait errno " + ex.getErrorCode(), ex);
                    return;
                }
                for (int i = 0; i < ready; i++)
                {
                    onEvent(events.getLong((long)i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET));
                }
            }
        }
        finally
        {
            synchronized (lock)
            {
                running = false;
                fdsClosed = true;
                watched.clear();
                LinuxLibC.closeQuietly(libc, wakeFd);
                LinuxLibC.closeQuietly(libc, epollFd);
            }
        }
    }

    private void onEvent(final long key)
    {
        if (key == WAKE_KEY)
        {
            drainWakeFd();
            return;
        }
        final Runnable onExit = watched.remove(key);
        if (onExit == null)
        {
            return; // Deregistered after the event was queued.
        }
        try
        {
            onExit.run();
        }
        catch (final Throwable ex)
        {
            LOG.log(Level.ERROR, "pidfd exit callback failed", ex);
        }
    }

    private void wake()
    {
        if (fdsClosed)
        {
            return;
        }
        final Memory one = new Memory(Long.BYTES);
        one.setLong(0, 1);
        try
        {
            libc.write(wakeFd, one, Long.BYTES);
        }
        catch (final LastErrorException ex)
        {
            // EAGAIN: the counter is already non-zero, so the thread is woken anyway.
            if (ex.getErrorCode() != EAGAIN)
            {
                LOG.log(Level.WARNING, "eventfd write: errno {0}", ex.getErrorCode());
            }
        }
    }

    private void drainWakeFd()
    {
        final Memory counter = new Memory(Long.BYTES);
        try
        {
            libc.read(wakeFd, counter, Long.BYTES);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() != EAGAIN)
            {
                LOG.log(Level.WARNING, "eventfd read: errno {0}", ex.getErrorCode());
            }
        }
    }

    private void control(final int op, final int fd, final int eventMask, final long key)
    {
        final Memory event = new Memory(EPOLL_EVENT_SIZE);
        event.clear();
        event.setInt(0, eventMask);
        event.setLong(EPOLL_DATA_OFFSET, key);
        libc.epoll_ctl(epollFd, op, fd, event);
    }

    @Override
    public String toString()
    {
        return "PidfdWatcher[" + thread.getName() + ", watched=" + watched.size() + "]";
    }
}
