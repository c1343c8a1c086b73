package sledagent.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import sledagent.api.Json;

/**
 * A QMP (QEMU Machine Protocol) client: the greeting, {@code qmp_capabilities}, then commands and events.
 *
 * <p>Transport. {@link #overStdio} talks to a QEMU started with {@code -qmp stdio} through its process pipes; this
 * is what propolis-qemu uses: nothing to connect to (no race with QEMU creating a socket, no 108-byte
 * {@code sun_path} limit, no socket file to clean up, no other process can reach the monitor), and the pipe's end
 * of file <em>is</em> QEMU's exit, since QEMU is the only writer. QEMU does not react to the end of its stdin, so
 * closing the client leaves QEMU running. {@link #connect} talks to {@code -qmp unix:PATH,server=on,wait=off}
 * through the JDK's unix-domain {@link SocketChannel}, retrying until QEMU has created the socket. Both run the
 * same code over a byte stream of newline-terminated JSON messages.
 *
 * <p>Threads. One reader thread per client parses every message: answers complete their calls (matched by
 * {@code id}), events go to {@code onEvent} in QEMU's order, and when the stream ends {@code onEof} runs once,
 * after the last event. Both callbacks run on the reader thread: keep them short and never call
 * {@link #execute} from them (the answer would be read by the thread that waits for it). One writer thread sends
 * commands from a bounded queue, so a QEMU that stops reading (SIGSTOP) blocks only that thread.
 *
 * <p>Bounds. Every call has a timeout; a message longer than {@link #MAX_MESSAGE_BYTES} ends the connection; at
 * most {@link #MAX_QUEUED_COMMANDS} commands wait to be written. After {@link #close()} every call in flight and
 * every later call fails with {@link QmpException.Closed}, and no callback starts any more ({@code onEof} is not
 * called for a close).
 */
public final class QmpClient implements AutoCloseable
{
    /** The longest message accepted ({@code query-qmp-schema} is about 200 KB). */
    public static final int MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
    /** Commands waiting for the writer thread at most; one more fails at once. */
    public static final int MAX_QUEUED_COMMANDS = 64;
    private static final long CONNECT_RETRY_MS = 10;

    private final String name;
    private final InputStream in;
    private final OutputStream out;
    private final Closeable transport;
    private final Consumer<QmpEvent> onEvent;
    private final Runnable onEof;
    private final Map<String, Call> pending = new ConcurrentHashMap<>();
    private final BlockingQueue<Call> sendQueue = new ArrayBlockingQueue<>(MAX_QUEUED_COMMANDS);
    private final AtomicLong nextId = new AtomicLong();
    private final AtomicBoolean finished = new AtomicBoolean();
    private final CompletableFuture<ObjectNode> greeting = new CompletableFuture<>();
    private final Thread reader;
    private final Thread writer;
    private volatile boolean closedByUs;
    private volatile String closedReason;

    /** A command on its way: the bytes to send and the future its answer completes. */
    private record Call(String id, String command, byte[] bytes, CompletableFuture<JsonNode> result)
    {
    }

    private QmpClient(final String name, final InputStream in, final OutputStream out, final Closeable transport,
        final Consumer<QmpEvent> onEvent, final Runnable onEof)
    {
        this.name = Objects.requireNonNull(name, "name");
        this.in = in;
        this.out = out;
        this.transport = transport;
        this.onEvent = Objects.requireNonNull(onEvent, "onEvent");
        this.onEof = Objects.requireNonNull(onEof, "onEof");
        this.reader = new Thread(this::readLoop, "qmp-" + name);
        this.writer = new Thread(this::writeLoop, "qmp-" + name + "-writer");
        reader.setDaemon(true);
        writer.setDaemon(true);
    }

    /**
     * QMP over the pipes of a QEMU started with {@code -qmp stdio}: waits for the greeting and negotiates
     * capabilities, all within {@code timeoutMs}. QEMU's stderr is left to the caller.
     *
     * @param qemu    the QEMU process (its stdin and stdout must be pipes)
     * @param name    for thread names and messages, e.g. the VM's name
     * @param onEvent every event, in order, on the reader thread
     * @param onEof   once, on the reader thread, when QEMU's end of the stream is reached (it exited)
     * @throws QmpException on a bad greeting, an error from {@code qmp_capabilities}, EOF or timeout; the client is
     *                      then closed (QEMU is not touched)
     */
    public static QmpClient overStdio(final Process qemu, final String name, final Consumer<QmpEvent> onEvent,
        final Runnable onEof, final long timeoutMs) throws QmpException, InterruptedException
    {
        final InputStream stdout = qemu.getInputStream();
        final OutputStream stdin = qemu.getOutputStream();
        return open(stdout, stdin, () ->
        {
            try
            {
                stdin.close();
            }
            finally
            {
                stdout.close();
            }
        }, name, onEvent, onEof, timeoutMs);
    }

    /**
     * QMP over the unix socket of {@code -qmp unix:PATH,server=on,wait=off}: connects (retrying every 10 ms while
     * the socket does not exist yet or refuses), then as {@link #overStdio}, all within {@code timeoutMs}.
     */
    public static QmpClient connect(final Path socket, final String name, final Consumer<QmpEvent> onEvent,
        final Runnable onEof, final long timeoutMs) throws QmpException, InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        final SocketChannel channel = UnixSockets.connect(socket, deadlineNs, CONNECT_RETRY_MS);
        if (channel == null)
        {
            throw new QmpException.TimedOut("connect " + socket, timeoutMs);
        }
        final long leftMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()));
        return open(UnixSockets.inputStream(channel), UnixSockets.outputStream(channel), channel, name, onEvent,
            onEof, leftMs);
    }

    /**
     * QMP over any byte stream (tests, or a transport of the caller's): reads the greeting and negotiates
     * capabilities within {@code timeoutMs}. {@code transport.close()} must end the streams.
     */
    public static QmpClient open(final InputStream in, final OutputStream out, final Closeable transport,
        final String name, final Consumer<QmpEvent> onEvent, final Runnable onEof, final long timeoutMs)
        throws QmpException, InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        final QmpClient client = new QmpClient(name, in, out, transport, onEvent, onEof);
        client.reader.start();
        client.writer.start();
        boolean ok = false;
        try
        {
            try
            {
                client.greeting.get(Math.max(0, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
            catch (final TimeoutException e)
            {
                throw new QmpException.TimedOut("QMP greeting", timeoutMs);
            }
            catch (final ExecutionException e)
            {
                throw asQmpException(e.getCause());
            }
            final long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime());
            client.execute("qmp_capabilities", null, Math.max(1, leftMs));
            ok = true;
            return client;
        }
        finally
        {
            if (!ok)
            {
                client.close();
            }
        }
    }

    /** QEMU's greeting, e.g. {@code {"QMP":{"version":{"qemu":{"major":7,...}},"capabilities":[...]}}}. */
    public ObjectNode greeting()
    {
        return greeting.getNow(null);
    }

    /**
     * Sends {@code command} (with {@code arguments}, or none when null) and waits for its answer.
     *
     * @return the {@code return} value ({@code {}} for most commands)
     * @throws QmpException.CommandFailed QEMU answered with an error
     * @throws QmpException.TimedOut      no answer within {@code timeoutMs}
     * @throws QmpException.Closed        the connection is gone, or closes before the answer
     * @throws QmpException               the send queue is full (QEMU has stopped reading)
     */
    public JsonNode execute(final String command, final ObjectNode arguments, final long timeoutMs)
        throws QmpException, InterruptedException
    {
        try
        {
            return submit(command, arguments, timeoutMs).get();
        }
        catch (final ExecutionException e)
        {
            throw asQmpException(e.getCause());
        }
    }

    /**
     * As {@link #execute}, without waiting: the future completes with the {@code return} value or with one of the
     * {@link QmpException}s, at the latest after {@code timeoutMs}. Completes on the reader thread, the writer thread
     * or the JDK's delayed executor: never block in a non-async continuation.
     */
    public CompletableFuture<JsonNode> submit(final String command, final ObjectNode arguments, final long timeoutMs)
    {
        Objects.requireNonNull(command, "command");
        if (timeoutMs <= 0)
        {
            throw new IllegalArgumentException("timeoutMs must be positive: " + timeoutMs);
        }
        final CompletableFuture<JsonNode> result = new CompletableFuture<>();
        if (finished.get())
        {
            result.completeExceptionally(new QmpException.Closed(command + ": " + closedReason));
            return result;
        }
        final String id = Long.toString(nextId.incrementAndGet());
        final ObjectNode message = Json.mapper().createObjectNode().put("execute", command);
        if (arguments != null)
        {
            message.set("arguments", arguments);
        }
        message.put("id", id);
        final byte[] bytes;
        try
        {
            bytes = (Json.mapper().writeValueAsString(message) + "\n").getBytes(StandardCharsets.UTF_8);
        }
        catch (final IOException e)
        {
            result.completeExceptionally(new QmpException("cannot encode " + command + ": " + e.getMessage(), e));
            return result;
        }
        final Call call = new Call(id, command, bytes, result);
        pending.put(id, call);
        CompletableFuture.delayedExecutor(timeoutMs, TimeUnit.MILLISECONDS).execute(() ->
        {
            if (pending.remove(id, call))
            {
                result.completeExceptionally(new QmpException.TimedOut(command, timeoutMs));
            }
        });
        if (!sendQueue.offer(call))
        {
            pending.remove(id, call);
            result.completeExceptionally(new QmpException(command + ": " + MAX_QUEUED_COMMANDS
                + " commands already wait to be written (QEMU is not reading)"));
        }
        // The connection may have ended between the check above and the put: fail what finish() missed.
        if (finished.get() && pending.remove(id, call))
        {
            result.completeExceptionally(new QmpException.Closed(command + ": " + closedReason));
        }
        return result;
    }

    /** False once QEMU's end of the stream was reached or {@link #close()} was called. */
    public boolean isOpen()
    {
        return !finished.get();
    }

    /**
     * Closes the transport and fails every call in flight. QEMU is not told anything (send {@code quit} first to
     * end it). Returns at once; idempotent. The reader thread of a stdio client may stay blocked until QEMU exits
     * (closing a pipe does not wake a blocked read on Linux); it delivers nothing more.
     */
    @Override
    public void close()
    {
        closedByUs = true;
        finish("QMP client closed", null);
        writer.interrupt();
        try
        {
            transport.close();
        }
        catch (final IOException e)
        {
            // Nothing to do: the streams are abandoned either way.
        }
    }

    private void readLoop()
    {
        final byte[] chunk = new byte[8192];
        final ByteArrayOutputStream line = new ByteArrayOutputStream();
        String reason = "QEMU closed the QMP connection (end of stream)";
        Throwable cause = null;
        try
        {
            while (true)
            {
                final int n = in.read(chunk);
                if (n < 0)
                {
                    break;
                }
                int from = 0;
                for (int i = 0; i < n; i++)
                {
                    if (chunk[i] == '\n')
                    {
                        line.write(chunk, from, i - from);
                        handle(line.toByteArray());
                        line.reset();
                        from = i + 1;
                    }
                }
                line.write(chunk, from, n - from);
                if (line.size() > MAX_MESSAGE_BYTES)
                {
                    reason = "QMP message longer than " + MAX_MESSAGE_BYTES + " bytes";
                    break;
                }
            }
        }
        catch (final IOException | RuntimeException e)
        {
            reason = "QMP connection failed: " + e;
            cause = e;
        }
        if (finish(reason, cause) && !closedByUs)
        {
            try
            {
                onEof.run();
            }
            catch (final RuntimeException e)
            {
                System.err.println("qmp " + name + ": onEof failed: " + e);
            }
        }
    }

    private void handle(final byte[] bytes) throws IOException
    {
        if (closedByUs || isBlank(bytes))
        {
            return;
        }
        final JsonNode message;
        try
        {
            message = Json.mapper().readTree(bytes);
        }
        catch (final IOException e)
        {
            throw new IOException("unparseable QMP message: " + e.getMessage(), e);
        }
        if (!(message instanceof ObjectNode object))
        {
            throw new IOException("QMP message is not an object: " + excerpt(bytes));
        }
        if (!greeting.isDone())
        {
            if (!object.has("QMP"))
            {
                greeting.completeExceptionally(new QmpException("not a QMP greeting: " + excerpt(bytes)));
                throw new IOException("not a QMP greeting");
            }
            greeting.complete(object);
            return;
        }
        if (object.has("event"))
        {
            final JsonNode data = object.get("data");
            final QmpEvent event = new QmpEvent(object.get("event").asText(),
                data instanceof ObjectNode dataObject ? dataObject : Json.mapper().createObjectNode(),
                timestamp(object.get("timestamp")));
            try
            {
                onEvent.accept(event);
            }
            catch (final RuntimeException e)
            {
                System.err.println("qmp " + name + ": onEvent(" + event.name() + ") failed: " + e);
            }
            return;
        }
        final JsonNode id = object.get("id");
        final Call call = id == null ? null : pending.remove(id.asText());
        if (call == null)
        {
            return; // the answer to a call that timed out, or to nothing of ours
        }
        if (object.has("return"))
        {
            call.result().complete(object.get("return"));
        }
        else
        {
            final JsonNode error = object.path("error");
            call.result().completeExceptionally(new QmpException.CommandFailed(call.command(),
                error.path("class").asText("?"), error.path("desc").asText(excerpt(bytes))));
        }
    }

    private void writeLoop()
    {
        try
        {
            while (!finished.get())
            {
                final Call call = sendQueue.take();
                if (call.result().isDone())
                {
                    continue; // timed out while queued
                }
                try
                {
                    out.write(call.bytes());
                    out.flush();
                }
                catch (final IOException e)
                {
                    if (pending.remove(call.id(), call))
                    {
                        call.result().completeExceptionally(
                            new QmpException.Closed(call.command() + ": cannot write to QEMU: " + e, e));
                    }
                }
            }
        }
        catch (final InterruptedException e)
        {
            // close()
        }
    }

    /** Ends the connection once: fails every call in flight. True for the call that ended it. */
    private boolean finish(final String reason, final Throwable cause)
    {
        if (!finished.compareAndSet(false, true))
        {
            return false;
        }
        closedReason = reason;
        greeting.completeExceptionally(new QmpException.Closed(reason, cause));
        final List<Call> calls = new ArrayList<>(pending.values());
        for (final Call call : calls)
        {
            if (pending.remove(call.id(), call))
            {
                call.result().completeExceptionally(new QmpException.Closed(call.command() + ": " + reason, cause));
            }
        }
        sendQueue.clear();
        writer.interrupt();
        return true;
    }

    private static Instant timestamp(final JsonNode timestamp)
    {
        if (timestamp == null || !timestamp.has("seconds"))
        {
            return Instant.now();
        }
        return Instant.ofEpochSecond(timestamp.path("seconds").asLong(), timestamp.path("microseconds").asLong() * 1000);
    }

    private static QmpException asQmpException(final Throwable cause)
    {
        return cause instanceof QmpException qmp ? qmp : new QmpException("QMP call failed: " + cause, cause);
    }

    private static boolean isBlank(final byte[] bytes)
    {
        for (final byte b : bytes)
        {
            if (b != ' ' && b != '\r' && b != '\t')
            {
                return false;
            }
        }
        return true;
    }

    private static String excerpt(final byte[] bytes)
    {
        final String text = new String(bytes, 0, Math.min(bytes.length, 200), StandardCharsets.UTF_8);
        return bytes.length > 200 ? text + "..." : text;
    }
}
