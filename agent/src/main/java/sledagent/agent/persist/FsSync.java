package sledagent.agent.persist;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code syncfs(2)}: one flush for every file of a filesystem, which is what lets several record files share one
 * sync. Linux only; elsewhere (or if libc cannot be bound) {@link #available()} is false and callers fsync each file.
 */
final class FsSync
{
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final LibC LIBC = bind();

    private FsSync()
    {
    }

    /** The libc calls used here. */
    interface LibC extends Library
    {
        int open(String path, int flags) throws LastErrorException;

        int syncfs(int fd) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    private static LibC bind()
    {
        if (!Platform.isLinux())
        {
            return null;
        }
        try
        {
            return Native.load("c", LibC.class);
        }
        catch (final UnsatisfiedLinkError ex)
        {
            return null;
        }
    }

    static boolean available()
    {
        return LIBC != null;
    }

    /** Flushes the filesystem that holds {@code dir} (data and metadata of every file on it). */
    static void syncFs(final Path dir) throws IOException
    {
        final int fd;
        try
        {
            fd = LIBC.open(dir.toString(), O_RDONLY | O_CLOEXEC);
        }
        catch (final LastErrorException ex)
        {
            throw new IOException("open " + dir + ": errno " + ex.getErrorCode(), ex);
        }
        try
        {
            LIBC.syncfs(fd);
        }
        catch (final LastErrorException ex)
        {
            throw new IOException("syncfs " + dir + ": errno " + ex.getErrorCode(), ex);
        }
        finally
        {
            LIBC.close(fd);
        }
    }
}
