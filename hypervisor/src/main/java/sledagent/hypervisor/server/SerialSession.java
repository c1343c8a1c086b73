package sledagent.hypervisor.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One {@code GET /instance/serial} WebSocket after the 101: binary frames out carry the guest's console bytes from
 * {@code startOffset} on, binary frames in go to the guest, text frames in (Propolis's control messages) are
 * ignored, pings are answered, a close is echoed. Once the VM has migrated away and every byte before the move is
 * sent, the port's {@code {"Migrating": ...}} text frame goes out and the session closes (1000).
 *
 * <p>Isolation: the session's output thread reads the shared history at its own offset; nothing is queued per
 * reader. A reader that stops reading blocks only its own thread; if one frame write stays blocked longer than
 * {@link #WRITE_STALL_MS}, or the reader falls so far behind that its offset has left the history, it is cut off
 * (connection closed), so it holds no thread for ever.
 */
final class SerialSession
{
    /** Most console bytes in one frame. */
    static final int MAX_FRAME_BYTES = 16 * 1024;
    /** Largest frame accepted from a client (input is typed text). */
    static final int MAX_INPUT_FRAME_BYTES = 64 * 1024;
    /** A frame write blocked this long (a client that stopped reading) ends the session. */
    static final long WRITE_STALL_MS = 10_000;
    private static final long WAIT_SLICE_MS = 1_000;
    private static final ScheduledExecutorService WATCHDOG = watchdog();

    private final InputStream in;
    private final OutputStream out;
    private final Runnable closeConnection;
    private final SerialPort port;
    private final Object writeLock = new Object();
    private volatile long writeStartedNs;
    private volatile boolean writing;
    private volatile boolean closed;
    private long offset;

    SerialSession(final RawConnection connection, final Runnable closeConnection, final SerialPort port,
        final long startOffset)
    {
        this.in = connection.in;
        this.out = connection.out;
        this.closeConnection = closeConnection;
        this.port = port;
        this.offset = startOffset;
    }

    /** Serves until the client closes or goes away, or is cut off; returns with the connection closed. */
    void run()
    {
        final Thread output = new Thread(this::outputLoop, "serial-ws-out");
        output.setDaemon(true);
        final ScheduledFuture<?> stallCheck = WATCHDOG.scheduleWithFixedDelay(this::checkStall, 1, 1,
            TimeUnit.SECONDS);
        output.start();
        try
        {
            inputLoop();
        }
        finally
        {
            closed = true;
            stallCheck.cancel(false);
            output.interrupt();
            closeConnection.run();
        }
    }

    private void inputLoop()
    {
        int messageOpcode = WebSocketFrames.BINARY;
        try
        {
            while (!closed)
            {
                final WebSocketFrames.Frame frame = WebSocketFrames.read(in, MAX_INPUT_FRAME_BYTES);
                switch (frame.opcode())
                {
                    case WebSocketFrames.BINARY, WebSocketFrames.TEXT, WebSocketFrames.CONTINUATION ->
                    {
                        if (frame.opcode() != WebSocketFrames.CONTINUATION)
                        {
                            messageOpcode = frame.opcode();
                        }
                        if (messageOpcode == WebSocketFrames.BINARY && frame.payload().length > 0)
                        {
                            // Dropped when the guest has too much input waiting: a UART has no back-pressure.
                            port.write(frame.payload());
                        }
                    }
                    case WebSocketFrames.PING -> send(WebSocketFrames.PONG, frame.payload(), 0,
                        frame.payload().length);
                    case WebSocketFrames.PONG ->
                    {
                        // Unsolicited pongs are allowed and mean nothing.
                    }
                    case WebSocketFrames.CLOSE ->
                    {
                        final byte[] code = frame.payload().length >= 2
                            ? new byte[] {frame.payload()[0], frame.payload()[1]} : new byte[0];
                        send(WebSocketFrames.CLOSE, code, 0, code.length);
                        return;
                    }
                    default -> throw new WebSocketFrames.ProtocolException(1002, "unknown opcode " + frame.opcode());
                }
            }
        }
        catch (final WebSocketFrames.ProtocolException e)
        {
            closeWith(e.closeCode(), e.getMessage());
        }
        catch (final IOException e)
        {
            // The client went away, or the output side cut it off.
        }
    }

    private void outputLoop()
    {
        try
        {
            while (!closed)
            {
                final long total = port.awaitOutput(offset, WAIT_SLICE_MS);
                if (total <= offset)
                {
                    final String notice = port.migrationNotice();
                    if (notice != null)
                    {
                        // Everything up to the move is sent: tell the client where the VM went, and end.
                        final byte[] text = notice.getBytes(StandardCharsets.UTF_8);
                        send(WebSocketFrames.TEXT, text, 0, text.length);
                        closeWith(1000, "VM migrated");
                        return;
                    }
                    continue;
                }
                final SerialHistory chunk = port.read(offset, MAX_FRAME_BYTES);
                if (chunk.data().length == 0)
                {
                    // From the kept beginning into the gap: Propolis's history does not jump it.
                    throw PropolisRefusal.badRequest("serial output at " + offset + " is no longer kept");
                }
                send(WebSocketFrames.BINARY, chunk.data(), 0, chunk.data().length);
                offset = chunk.lastByteOffset();
            }
        }
        catch (final PropolisRefusal e)
        {
            closeWith(1008, "fell behind the serial history");
        }
        catch (final IOException | InterruptedException e)
        {
            // Closed, or the client went away.
        }
        finally
        {
            // Without output the session is over: unblock the input side too.
            if (!closed)
            {
                closed = true;
                closeConnection.run();
            }
        }
    }

    private void send(final int opcode, final byte[] payload, final int from, final int length) throws IOException
    {
        synchronized (writeLock)
        {
            writeStartedNs = System.nanoTime();
            writing = true;
            try
            {
                WebSocketFrames.write(out, opcode, payload, from, length);
            }
            finally
            {
                writing = false;
            }
        }
    }

    private void closeWith(final int code, final String reason)
    {
        try
        {
            final byte[] payload = WebSocketFrames.closePayload(code, reason);
            send(WebSocketFrames.CLOSE, payload, 0, payload.length);
        }
        catch (final IOException e)
        {
            // Gone already.
        }
    }

    private void checkStall()
    {
        if (writing && System.nanoTime() - writeStartedNs > TimeUnit.MILLISECONDS.toNanos(WRITE_STALL_MS))
        {
            closed = true;
            closeConnection.run();
        }
    }

    private static ScheduledExecutorService watchdog()
    {
        final ScheduledThreadPoolExecutor executor =
            new ScheduledThreadPoolExecutor(1, ServerThreads.daemons("serial-ws-watchdog"));
        executor.setRemoveOnCancelPolicy(true);
        return executor;
    }
}
