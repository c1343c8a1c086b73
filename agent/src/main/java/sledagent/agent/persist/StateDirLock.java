package sledagent.agent.persist;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.logging.Logger;

/**
 * One agent per state directory: an exclusive lock on {@code <state-dir>/agent.lock} (an fcntl lock through
 * {@link FileChannel#tryLock()}, so it works on Linux and illumos alike), held for the agent's life. The kernel
 * drops it when the process dies, so a SIGKILLed agent leaves no stale lock. The file holds the holder's pid for
 * the second agent's message; it is never removed (removing a lock file races with the next taker).
 */
public final class StateDirLock implements AutoCloseable
{
    /** The lock file's name in the state directory. */
    public static final String FILE = "agent.lock";
    private static final Logger LOG = Logger.getLogger(StateDirLock.class.getName());
    private static final int PID_MAX_BYTES = 32;

    private final FileChannel channel;
    private final FileLock lock;

    private StateDirLock(final FileChannel channel, final FileLock lock)
    {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock without waiting.
     *
     * @throws AlreadyRunningException naming the holder's pid and the path, if another agent holds it
     * @throws IOException             if the lock file cannot be opened
     */
    public static StateDirLock acquire(final Path stateDir) throws IOException
    {
        final Path file = stateDir.resolve(FILE);
        final FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
        final FileLock lock;
        try
        {
            lock = channel.tryLock();
        }
        catch (final OverlappingFileLockException ex)
        {
            // Held by another agent in this very JVM (tests, the demo).
            channel.close();
            throw held(file, ProcessHandle.current().pid() + " (this process)");
        }
        catch (final IOException | RuntimeException ex)
        {
            channel.close();
            throw ex;
        }
        if (lock == null)
        {
            final String holder = readPid(channel);
            channel.close();
            throw held(file, holder);
        }
        writePid(channel, file);
        return new StateDirLock(channel, lock);
    }

    private static AlreadyRunningException held(final Path file, final String holder)
    {
        return new AlreadyRunningException("another sled-agent (pid " + holder + ") holds the state directory "
            + file.getParent() + " (lock " + file + "); one agent per state directory");
    }

    private static String readPid(final FileChannel channel)
    {
        try
        {
            final ByteBuffer buffer = ByteBuffer.allocate(PID_MAX_BYTES);
            channel.read(buffer, 0);
            final String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII).strip();
            return text.matches("[0-9]+") ? text : "unknown";
        }
        catch (final IOException ex)
        {
            return "unknown";
        }
    }

    /** Best effort: the lock holds without it (a full disk must not keep the agent from starting). */
    private static void writePid(final FileChannel channel, final Path file)
    {
        try
        {
            final byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(pid), 0);
        }
        catch (final IOException ex)
        {
            LOG.warning(() -> "cannot write the pid to " + file + " (" + ex + "); the lock is held all the same");
        }
    }

    /** Releases the lock; the file stays. */
    @Override
    public void close() throws IOException
    {
        try
        {
            lock.release();
        }
        finally
        {
            channel.close();
        }
    }
}
