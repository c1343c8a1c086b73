package sledagent.agent.persist;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import sledagent.zones.ZoneNames;

/**
 * This agent's owner token for its zones: a random id made once and kept in {@code <state-dir>/agent-id}, so
 * a restarted agent recognises the zones it made, and an agent with another state directory (the only other
 * agent that can run, given {@link StateDirLock}) does not. Not the sled id: that one is random per start
 * unless configured.
 */
public final class AgentId
{
    /** The file's name in the state directory. */
    public static final String FILE = "agent-id";

    private AgentId()
    {
    }

    /**
     * The id stored in {@code stateDir}, made and stored (temp file, fsync, rename) on first use.
     *
     * @throws IOException if there is none and it cannot be stored
     */
    public static String loadOrCreate(final Path stateDir) throws IOException
    {
        final Path file = stateDir.resolve(FILE);
        try
        {
            final String stored = Files.readString(file, StandardCharsets.US_ASCII).strip();
            return ZoneNames.checkOwner(stored);
        }
        catch (final NoSuchFileException ex)
        {
            // First start on this state directory.
        }
        catch (final IllegalArgumentException ex)
        {
            throw new IOException("unreadable " + file + " (" + ex.getMessage() + "); remove it only if no zone "
                + "of this agent runs: zones marked with the old id would no longer be swept", ex);
        }
        final String id = UUID.randomUUID().toString();
        final Path tmp = stateDir.resolve(FILE + ".tmp");
        try (FileChannel channel = FileChannel.open(tmp,
            StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.wrap((id + "\n").getBytes(StandardCharsets.US_ASCII)));
            channel.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        return id;
    }
}
