package sledagent.perf;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import sledagent.agent.demo.TinyGuest;

/**
 * Waits for the tiny guest's marker on a VMM's serial console through Propolis's serial WebSocket
 * ({@code GET /instance/serial?from_start=0}): the console's bytes are pushed as they come, so the moment is taken
 * when the marker arrives, with no polling that would take CPU from a TCG guest still booting (the bare-QEMU floor
 * reads its serial file every millisecond, which costs next to nothing). Before the ensure the endpoint answers 424:
 * the connect is retried until the bound.
 */
final class GuestMarker
{
    private static final String PROPOLIS_API_VERSION = "5.0.0";
    private static final long RETRY_MS = 10;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private GuestMarker()
    {
    }

    /**
     * @param id    the VMM (for the message)
     * @param addr  its Propolis address
     * @param bound how long to wait
     * @return when the marker arrived
     * @throws IllegalStateException if it did not within {@code bound}
     */
    static Instant await(final UUID id, final String addr, final Duration bound) throws Exception
    {
        final long deadlineNs = System.nanoTime() + bound.toNanos();
        final URI uri = URI.create("ws://" + addr + "/instance/serial?from_start=0");
        final CompletableFuture<Instant> seen = new CompletableFuture<>();
        WebSocket socket = null;
        while (socket == null)
        {
            try
            {
                socket = HTTP.newWebSocketBuilder().header("api-version", PROPOLIS_API_VERSION)
                    .buildAsync(uri, new Watcher(seen)).get(remainingMs(deadlineNs), TimeUnit.MILLISECONDS);
            }
            catch (final ExecutionException ex)
            {
                // Not ensured yet (424), or not listening yet.
                if (remainingMs(deadlineNs) <= RETRY_MS)
                {
                    throw new IllegalStateException("serial console of " + id + " not reachable within " + bound, ex);
                }
                Thread.sleep(RETRY_MS);
            }
            catch (final TimeoutException ex)
            {
                throw new IllegalStateException("serial console of " + id + " not reachable within " + bound, ex);
            }
        }
        try
        {
            return seen.get(remainingMs(deadlineNs), TimeUnit.MILLISECONDS);
        }
        catch (final TimeoutException ex)
        {
            throw new IllegalStateException("no " + TinyGuest.MARKER + " from " + id + " within " + bound, ex);
        }
        finally
        {
            socket.abort();
        }
    }

    private static long remainingMs(final long deadlineNs)
    {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()));
    }

    /** Completes {@code seen} when the marker has arrived (it may be split across frames). */
    private static final class Watcher implements WebSocket.Listener
    {
        private final CompletableFuture<Instant> seen;
        private final StringBuilder tail = new StringBuilder();

        Watcher(final CompletableFuture<Instant> seen)
        {
            this.seen = seen;
        }

        @Override
        public CompletionStage<?> onBinary(final WebSocket webSocket, final ByteBuffer data, final boolean last)
        {
            final byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            tail.append(new String(bytes, StandardCharsets.ISO_8859_1));
            if (tail.indexOf(TinyGuest.MARKER) >= 0)
            {
                seen.complete(Instant.now());
            }
            // Only what could start a marker split across frames is kept.
            if (tail.length() > TinyGuest.MARKER.length())
            {
                tail.delete(0, tail.length() - TinyGuest.MARKER.length());
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(final WebSocket webSocket, final int statusCode, final String reason)
        {
            seen.completeExceptionally(new IllegalStateException("serial console closed: " + statusCode + " "
                + reason));
            return null;
        }

        @Override
        public void onError(final WebSocket webSocket, final Throwable error)
        {
            seen.completeExceptionally(error);
        }
    }
}
