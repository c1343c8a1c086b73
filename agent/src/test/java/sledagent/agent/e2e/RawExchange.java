package sledagent.agent.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import sledagent.api.Json;

/**
 * HTTP/1.1 by hand over a plain socket, for requests no HTTP client would send: writes raw bytes, reads one
 * response (status line, headers, a body of Content-Length bytes) or whatever arrives until the server closes.
 */
final class RawExchange
{
    /** One response as read: {@code status} is -1 when none arrived; {@code closed} when EOF followed. */
    record Response(int status, Map<String, String> headers, String body, boolean closed, String error)
    {
        /** The body as JSON, or null if it is not JSON. */
        JsonNode json()
        {
            try
            {
                return Json.mapper().readTree(body);
            }
            catch (final IOException ex)
            {
                return null;
            }
        }

        @Override
        public String toString()
        {
            return status + " " + headers + " " + body + (error == null ? "" : " (" + error + ")");
        }
    }

    private RawExchange()
    {
    }

    /** Sends {@code request} on a new connection and reads one response. */
    static Response send(final InetSocketAddress agent, final byte[] request, final Duration timeout)
        throws IOException
    {
        try (Socket socket = new Socket())
        {
            socket.connect(agent, (int)timeout.toMillis());
            socket.setSoTimeout((int)timeout.toMillis());
            String sendError = null;
            try
            {
                socket.getOutputStream().write(request);
                socket.getOutputStream().flush();
            }
            catch (final IOException ex)
            {
                // The server may answer and close before it read everything (that is what is tested): read on.
                sendError = "send: " + ex.getMessage();
            }
            final Response response = read(socket.getInputStream());
            return sendError == null || response.error() != null ? response
                : new Response(response.status(), response.headers(), response.body(), response.closed(),
                    sendError);
        }
    }

    /** Reads one response from {@code in}. */
    static Response read(final InputStream in)
    {
        final ByteArrayOutputStream head = new ByteArrayOutputStream();
        try
        {
            int matched = 0;
            while (matched < 4)
            {
                final int b = in.read();
                if (b < 0)
                {
                    return new Response(-1, Map.of(), head.toString(StandardCharsets.ISO_8859_1), true,
                        "EOF before a whole response head");
                }
                head.write(b);
                matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            }
            final String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            final String[] statusLine = lines[0].split(" ", 3);
            final int status = Integer.parseInt(statusLine[1]);
            final Map<String, String> headers = new TreeMap<>();
            for (int i = 1; i < lines.length; i++)
            {
                final int colon = lines[i].indexOf(':');
                if (colon > 0)
                {
                    headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
                        lines[i].substring(colon + 1).trim());
                }
            }
            final int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            final byte[] body = in.readNBytes(length);
            boolean closed = false;
            if ("close".equalsIgnoreCase(headers.get("connection")))
            {
                closed = in.read() < 0;
            }
            return new Response(status, headers, new String(body, StandardCharsets.UTF_8), closed, null);
        }
        catch (final SocketTimeoutException ex)
        {
            return new Response(-1, Map.of(), head.toString(StandardCharsets.ISO_8859_1), false,
                "no response: " + ex.getMessage());
        }
        catch (final IOException | RuntimeException ex)
        {
            return new Response(-1, Map.of(), head.toString(StandardCharsets.ISO_8859_1), false, ex.toString());
        }
    }
}
