package sledagent.agent.persist;

import com.sun.jna.FunctionMapper;
import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Several files made durable in one step: the writeback of all of them is started first
 * ({@code sync_file_range(SYNC_FILE_RANGE_WRITE)}), then each is {@code fsync}ed, so the fsyncs wait on I/O already
 * under way and may share the filesystem's journal commit. Unlike {@code syncfs(2)} it never flushes other files of
 * the filesystem (perf/RESULTS.md, issue 14: on this machine's shared disk the ways could not be told apart from
 * the noise). Linux only; elsewhere {@link #available()} is false and callers fsync each file.
 */
final class FsSync
{
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int SYNC_FILE_RANGE_WRITE = 2;
    private static final LibC LIBC = bind();

    private FsSync()
    {
    }

    /** The libc calls used here. */
    interface LibC extends Library
    {
        int open(String path, int flags) throws LastErrorException;

        int syncFileRange(int fd, long offset, long nbytes, int flags) throws LastErrorException;

        int fsync(int fd) throws LastErrorException;

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
            // Java names in camel case, libc's in snake case.
            final FunctionMapper names = (library, method) -> "syncFileRange".equals(method.getName())
                ? "sync_file_range" : method.getName();
            return Native.load("c", LibC.class, Map.of(Library.OPTION_FUNCTION_MAPPER, names));
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

    /** Makes every file of {@code files} durable (data and metadata): writeback started for all, then fsync each. */
    static void syncAll(final List<Path> files) throws IOException
    {
        final int[] fds = new int[files.size()];
        int opened = 0;
        try
        {
            for (final Path file : files)
            {
                fds[opened] = call("open", file, () -> LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC));
                opened++;
            }
            for (int i = 0; i < opened; i++)
            {
                final int fd = fds[i];
                call("sync_file_range", files.get(i), () -> LIBC.syncFileRange(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
            }
            for (int i = 0; i < opened; i++)
            {
                final int fd = fds[i];
                call("fsync", files.get(i), () -> LIBC.fsync(fd));
            }
        }
        finally
        {
            for (int i = 0; i < opened; i++)
            {
                try
                {
                    LIBC.close(fds[i]);
                }
                catch (final LastErrorException ex)
                {
                    // Nothing to do: the fsync above already said whether the data is safe.
                }
            }
        }
    }

    /** One libc call; its errno as an IOException naming the call and the file. */
    private static int call(final String what, final Path file, final Call call) throws IOException
    {
        try
        {
            return call.run();
        }
        catch (final LastErrorException ex)
        {
            throw new IOException(what + " " + file + ": errno " + ex.getErrorCode(), ex);
        }
    }

    /** A libc call that may fail with errno. */
    private interface Call
    {
        int run();
    }
}
