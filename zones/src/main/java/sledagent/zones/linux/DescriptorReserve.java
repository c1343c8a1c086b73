package sledagent.zones.linux;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.logging.Logger;

/**
 * One spare descriptor, held open so that a kill can still open {@code cgroup.kill} after the process has run out
 * of descriptors (EMFILE): the spare is closed, the kill opens its file in the freed slot, and the spare is taken
 * again. The agent's connection limit keeps clients from exhausting descriptors; this covers whatever else does.
 * (Another thread may win the freed slot: the kill then fails as before and the teardown retries it.)
 */
final class DescriptorReserve implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger(DescriptorReserve.class.getName());
    private static final Path SPARE = Path.of("/dev/null");

    /** Work that opens a file. */
    @FunctionalInterface
    interface IoAction
    {
        void run() throws IOException;
    }

    private FileChannel spare;

    DescriptorReserve()
    {
        spare = openSpare();
    }

    /** True if {@code ex} says the process (EMFILE) or the system (ENFILE) is out of descriptors. */
    static boolean isExhaustion(final IOException ex)
    {
        final String message = ex.getMessage();
        return message != null && message.contains("Too many open files");
    }

    /** Runs {@code action} with the spare descriptor given up for it, and takes the spare back after. */
    synchronized void runWithSpare(final IoAction action) throws IOException
    {
        if (spare != null)
        {
            try
            {
                spare.close();
            }
            catch (final IOException ex)
            {
                // Closed or not, the slot is released.
            }
            spare = null;
        }
        try
        {
            action.run();
        }
        finally
        {
            spare = openSpare();
        }
    }

    private static FileChannel openSpare()
    {
        try
        {
            return FileChannel.open(SPARE, StandardOpenOption.READ);
        }
        catch (final IOException ex)
        {
            LOG.warning(() -> "no spare descriptor for kills (" + ex.getMessage()
                + "); will try again at the next kill");
            return null;
        }
    }

    @Override
    public synchronized void close()
    {
        if (spare != null)
        {
            try
            {
                spare.close();
            }
            catch (final IOException ex)
            {
                // Nothing to keep.
            }
            spare = null;
        }
    }
}
