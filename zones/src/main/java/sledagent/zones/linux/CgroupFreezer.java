package sledagent.zones.linux;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import sledagent.zones.ZoneException;

/**
 * {@code cgroup.freeze} (Linux 5.2+): stops every task of a cgroup and its descendants where it stands, so
 * the set of tasks cannot change (no fork, no exit by choice) while the agent reads or signals it. A fatal
 * signal still kills a frozen task, which is what the kill fallback relies on.
 *
 * <p>Callers must always {@link #thaw} in a {@code finally}: a zone left frozen holds its VMM paused forever.
 */
final class CgroupFreezer
{
    private static final String FREEZE_FILE = "cgroup.freeze";
    private static final byte[] FREEZE = {'1'};
    private static final byte[] THAW = {'0'};

    private CgroupFreezer()
    {
    }

    /** True if the cgroup has a {@code cgroup.freeze} file (not the hierarchy root, and Linux 5.2+). */
    static boolean supported(final Path cgroupDir)
    {
        return Files.isRegularFile(cgroupDir.resolve(FREEZE_FILE));
    }

    /**
     * Asks the kernel to freeze the cgroup and waits at most {@code bound} for {@code frozen 1}.
     *
     * @return true if frozen (or the cgroup is gone); false if the bound expired or the thread was interrupted
     *         (the interrupt flag is kept). Either way the caller must {@link #thaw}.
     * @throws ZoneException if {@code cgroup.freeze} cannot be written.
     */
    static boolean freeze(final LinuxLibC libc, final Path cgroupDir, final Duration bound)
    {
        if (!write(cgroupDir, FREEZE))
        {
            return true; // The cgroup is gone: nothing to hold still.
        }
        try
        {
            return CgroupEvents.awaitFrozen(libc, cgroupDir, bound);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Lets the cgroup's tasks run again. A cgroup that is gone is not an error. */
    static void thaw(final Path cgroupDir)
    {
        write(cgroupDir, THAW);
    }

    /** Writes {@code cgroup.freeze}; false if the cgroup is gone. */
    private static boolean write(final Path cgroupDir, final byte[] value)
    {
        final Path file = cgroupDir.resolve(FREEZE_FILE);
        try
        {
            // WRITE without CREATE: never create a file in cgroupfs.
            Files.write(file, value, StandardOpenOption.WRITE);
            return true;
        }
        catch (final NoSuchFileException ex)
        {
            if (Files.isDirectory(cgroupDir))
            {
                throw new ZoneException("no " + file + ": cgroup.freeze needs Linux 5.2+", ex);
            }
            return false;
        }
        catch (final IOException ex)
        {
            if (!Files.isDirectory(cgroupDir))
            {
                return false;
            }
            throw new ZoneException("cannot write " + file, ex);
        }
    }
}
