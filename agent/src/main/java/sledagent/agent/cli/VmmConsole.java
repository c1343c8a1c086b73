package sledagent.agent.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code sled-agent vmm console ID [--read-only]}: attaches the terminal to a VMM's serial console. Finds the VMM's
 * Propolis address in the agent's {@code GET /vmms}, opens Propolis's {@code GET /instance/serial} WebSocket
 * (starting with the last {@link #REPLAY_BYTES} bytes for context), copies its binary frames to {@code out} and
 * {@code in} to it (not with {@code --read-only}). Detaches on {@link #DETACH_KEY} (Ctrl-], as telnet) or at the end
 * of {@code in}; on a terminal, stdin is put in raw mode meanwhile (and restored).
 */
final class VmmConsole
{
    /** Ctrl-]: detaches. */
    static final int DETACH_KEY = 0x1d;
    /** The console history replayed on attach, so the operator sees the last prompt. */
    static final int REPLAY_BYTES = 1024;
    private static final long CONNECT_TIMEOUT_S = 10;
    private static final long SEND_TIMEOUT_S = 10;
    private static final String PROPOLIS_API_VERSION = "5.0.0";

    private VmmConsole()
    {
    }

    /**
     * Attaches until detached or until the console connection ends.
     *
     * @return 0 when the operator detached, 1 when the connection ended from the other side
     * @throws AgentException if the agent has no such VMM or its console cannot be reached
     */
    static int attach(final AgentApi api, final UUID propolisId, final boolean readOnly, final InputStream in,
        final PrintStream out, final PrintStream err) throws AgentException, InterruptedException
    {
        String addr = null;
        for (final VmmView vmm : api.list().value())
        {
            if (vmm.propolisId().equals(propolisId))
            {
                addr = vmm.propolisAddr();
            }
        }
        if (addr == null)
        {
            throw new AgentException("the agent at " + api.url() + " has no VMM " + propolisId);
        }
        final URI uri = URI.create("ws://" + addr + "/instance/serial?most_recent=" + REPLAY_BYTES);
        final CompletableFuture<String> ended = new CompletableFuture<>();
        final WebSocket socket = connect(uri, out, ended);
        err.println("sled-agent: attached to the serial console of " + propolisId + " at " + addr
            + (readOnly ? " (read-only)" : "") + "; Ctrl-] detaches");
        final CompletableFuture<Void> detached = new CompletableFuture<>();
        final Thread input = new Thread(() -> copyInput(in, socket, readOnly, detached), "console-input");
        input.setDaemon(true);
        try (RawTerminal terminal = RawTerminal.enter(in == System.in))
        {
            input.start();
            CompletableFuture.anyOf(detached, ended).join();
        }
        finally
        {
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "detached");
            socket.abort();
        }
        out.flush();
        if (detached.isDone())
        {
            err.println("\r\nsled-agent: detached");
            return 0;
        }
        err.println("\r\nsled-agent: the console connection ended: " + ended.getNow(""));
        return 1;
    }

    private static WebSocket connect(final URI uri, final PrintStream out, final CompletableFuture<String> ended)
        throws AgentException, InterruptedException
    {
        final HttpClient http = HttpClient.newBuilder().connectTimeout(AgentApi.CONNECT_TIMEOUT).build();
        try
        {
            return http.newWebSocketBuilder().header("api-version", PROPOLIS_API_VERSION)
                .buildAsync(uri, new Output(out, ended)).get(CONNECT_TIMEOUT_S, TimeUnit.SECONDS);
        }
        catch (final ExecutionException | TimeoutException e)
        {
            final Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new AgentException("cannot attach to the serial console at " + uri + ": " + cause);
        }
    }

    /** Copies {@code in} to the console (or drops it, read-only) until Ctrl-] or the end of {@code in}. */
    private static void copyInput(final InputStream in, final WebSocket socket, final boolean readOnly,
        final CompletableFuture<Void> detached)
    {
        final byte[] buffer = new byte[4096];
        try
        {
            while (!detached.isDone())
            {
                final int n = in.read(buffer);
                if (n < 0)
                {
                    break;
                }
                int end = n;
                for (int i = 0; i < n; i++)
                {
                    if (buffer[i] == DETACH_KEY)
                    {
                        end = i;
                        break;
                    }
                }
                if (!readOnly && end > 0)
                {
                    socket.sendBinary(ByteBuffer.wrap(Arrays.copyOf(buffer, end)), true)
                        .get(SEND_TIMEOUT_S, TimeUnit.SECONDS);
                }
                if (end < n)
                {
                    break;
                }
            }
        }
        catch (final IOException | ExecutionException | TimeoutException e)
        {
            // Input gone or the console gone: detach either way.
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        finally
        {
            detached.complete(null);
        }
    }

    /** The console's bytes to {@code out}; text frames are Propolis's control messages and not shown. */
    private static final class Output implements WebSocket.Listener
    {
        private final PrintStream out;
        private final CompletableFuture<String> ended;

        Output(final PrintStream out, final CompletableFuture<String> ended)
        {
            this.out = out;
            this.ended = ended;
        }

        @Override
        public CompletionStage<?> onBinary(final WebSocket webSocket, final ByteBuffer data, final boolean last)
        {
            final byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            out.write(bytes, 0, bytes.length);
            out.flush();
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(final WebSocket webSocket, final int statusCode, final String reason)
        {
            ended.complete("closed by the server (" + statusCode + (reason.isEmpty() ? "" : " " + reason) + ")");
            return null;
        }

        @Override
        public void onError(final WebSocket webSocket, final Throwable error)
        {
            ended.complete(String.valueOf(error));
        }
    }

    /** stdin in raw mode (no line editing, no echo, Ctrl-] passed through) while attached, when it is a terminal. */
    private static final class RawTerminal implements AutoCloseable
    {
        private final String saved;

        private RawTerminal(final String saved)
        {
            this.saved = saved;
        }

        static RawTerminal enter(final boolean stdin)
        {
            if (!stdin || System.console() == null)
            {
                return new RawTerminal(null);
            }
            final String saved = stty("-g");
            return new RawTerminal(saved != null && stty("raw -echo") != null ? saved.strip() : null);
        }

        @Override
        public void close()
        {
            if (saved != null)
            {
                stty(saved);
            }
        }

        private static String stty(final String args)
        {
            try
            {
                final Process process = new ProcessBuilder("sh", "-c", "stty " + args + " < /dev/tty")
                    .redirectErrorStream(true).start();
                final String output = new String(process.getInputStream().readAllBytes());
                return process.waitFor(5, TimeUnit.SECONDS) && process.exitValue() == 0 ? output : null;
            }
            catch (final IOException e)
            {
                return null;
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }
}
