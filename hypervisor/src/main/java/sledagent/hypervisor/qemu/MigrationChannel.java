package sledagent.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import sledagent.api.Json;

/**
 * The control connection between a migration's two propolis-qemu servers, once upgraded: one JSON object per line
 * each way ({@code {"type": ...}}). A reader thread hands every message, then one {@link Ended}, to the migration's
 * inbox; sends are synchronous and flushed. Lines are bounded ({@link #MAX_LINE_BYTES}: the serial history rides in
 * one). QEMU's own stream does not pass here: it goes straight from the source QEMU to the target QEMU's port.
 */
final class MigrationChannel implements AutoCloseable
{
    /** Room for 2 MiB of serial history in base64, and the spec. */
    static final int MAX_LINE_BYTES = 4 << 20;

    private final InputStream in;
    private final OutputStream out;
    private final Runnable closer;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread reader;

    /** One message from the other server. */
    record Message(ObjectNode body)
    {
        String type()
        {
            return body.path("type").asText("");
        }
    }

    /** The other server is gone (EOF, a reset, a bad line, or we closed). */
    record Ended(String why)
    {
    }

    /**
     * @param in    the other server's bytes
     * @param out   to the other server
     * @param closer closes the connection (unblocks the reader)
     * @param inbox where messages and the end go, on the reader thread
     * @param name  the reader thread's name
     */
    MigrationChannel(final InputStream in, final OutputStream out, final Runnable closer,
        final Consumer<Object> inbox, final String name)
    {
        this.in = in instanceof BufferedInputStream ? in : new BufferedInputStream(in);
        this.out = out;
        this.closer = closer;
        this.reader = new Thread(() -> readLoop(inbox), name);
        this.reader.setDaemon(true);
    }

    /** Starts reading. */
    MigrationChannel start()
    {
        reader.start();
        return this;
    }

    /**
     * Sends one message.
     *
     * @throws IOException if the other server is gone
     */
    synchronized void send(final ObjectNode message) throws IOException
    {
        final byte[] line = (Json.mapper().writeValueAsString(message) + "\n").getBytes(StandardCharsets.UTF_8);
        out.write(line);
        out.flush();
    }

    /** Sends, ignoring a gone peer (a last word on the way out). */
    void sendQuietly(final ObjectNode message)
    {
        try
        {
            send(message);
        }
        catch (final IOException e)
        {
            // Nobody to tell.
        }
    }

    /** A new message of {@code type}. */
    static ObjectNode message(final String type)
    {
        return Json.mapper().createObjectNode().put("type", type);
    }

    @Override
    public void close()
    {
        if (closed.compareAndSet(false, true))
        {
            try
            {
                closer.run();
            }
            catch (final RuntimeException e)
            {
                // Closing is best effort.
            }
        }
    }

    private void readLoop(final Consumer<Object> inbox)
    {
        String why = "end of stream";
        try
        {
            for (byte[] line = readLine(); line != null; line = readLine())
            {
                final JsonNode node = Json.mapper().readTree(line);
                if (!(node instanceof ObjectNode object))
                {
                    why = "not a JSON object: "
                        + new String(line, 0, Math.min(line.length, 80), StandardCharsets.UTF_8);
                    break;
                }
                inbox.accept(new Message(object));
            }
        }
        catch (final IOException e)
        {
            why = closed.get() ? "closed" : e.toString();
        }
        close();
        inbox.accept(new Ended(why));
    }

    /** The next line without its newline, or null at EOF. */
    private byte[] readLine() throws IOException
    {
        final ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true)
        {
            final int b = in.read();
            if (b < 0)
            {
                return null;
            }
            if (b == '\n')
            {
                return line.toByteArray();
            }
            if (line.size() >= MAX_LINE_BYTES)
            {
                throw new IOException("a line longer than " + MAX_LINE_BYTES + " bytes");
            }
            line.write(b);
        }
    }
}
