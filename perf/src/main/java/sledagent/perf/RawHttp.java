package sledagent.perf;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * A minimal blocking HTTP/1.1 client on one kept-alive loopback connection, for timing: one {@code write} per
 * request, {@code TCP_NODELAY}, {@code Content-Length} bodies only (all the agent and the sim send). Its own
 * cost is a few tens of microseconds, where {@code java.net.http.HttpClient} adds several thread hand-offs; the
 * connection is opened before the clock starts, as a client with a connection pool would have it.
 */
final class RawHttp implements AutoCloseable
{
    /** Status and body of one answer. */
    record Answer(int status, String body)
    {
    }

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final String host;

    RawHttp(final InetSocketAddress address, final int timeoutMs) throws IOException
    {
        socket = new Socket();
        try
        {
            socket.setTcpNoDelay(true);
            socket.connect(address, timeoutMs);
            socket.setSoTimeout(timeoutMs);
            in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
            out = socket.getOutputStream();
        }
        catch (final IOException ex)
        {
            socket.close();
            throw ex;
        }
        host = address.getHostString() + ":" + address.getPort();
    }

    /** Sends one request ({@code body} null for none) and reads the whole answer; bounded by the socket timeout. */
    Answer request(final String method, final String path, final String body) throws IOException
    {
        final byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        final StringBuilder head = new StringBuilder(160)
            .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
            .append("host: ").append(host).append("\r\n")
            .append("api-version: 48.0.0\r\n")
            .append("content-length: ").append(content.length).append("\r\n");
        if (body != null)
        {
            head.append("content-type: application/json\r\n");
        }
        head.append("\r\n");
        final byte[] headBytes = head.toString().getBytes(StandardCharsets.US_ASCII);
        final byte[] request = new byte[headBytes.length + content.length];
        System.arraycopy(headBytes, 0, request, 0, headBytes.length);
        System.arraycopy(content, 0, request, headBytes.length, content.length);
        out.write(request);
        out.flush();
        return readAnswer();
    }

    private Answer readAnswer() throws IOException
    {
        final String statusLine = readLine();
        final String[] parts = statusLine.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/1."))
        {
            throw new IOException("not an HTTP answer: " + statusLine);
        }
        final int status = Integer.parseInt(parts[1]);
        int length = -1;
        String line;
        while (!(line = readLine()).isEmpty())
        {
            final int colon = line.indexOf(':');
            if (colon <= 0)
            {
                continue;
            }
            final String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            final String value = line.substring(colon + 1).trim();
            if ("content-length".equals(name))
            {
                length = Integer.parseInt(value);
            }
            else if ("transfer-encoding".equals(name) && value.toLowerCase(Locale.ROOT).contains("chunked"))
            {
                throw new IOException("chunked answers are not supported by this timing client");
            }
        }
        if (length < 0)
        {
            throw new IOException("answer without content-length (status " + status + ")");
        }
        final byte[] content = in.readNBytes(length);
        if (content.length != length)
        {
            throw new EOFException("connection closed after " + content.length + " of " + length + " body bytes");
        }
        return new Answer(status, new String(content, StandardCharsets.UTF_8));
    }

    private String readLine() throws IOException
    {
        final ByteArrayOutputStream line = new ByteArrayOutputStream(64);
        while (true)
        {
            final int b = in.read();
            if (b < 0)
            {
                throw new EOFException("connection closed mid-answer");
            }
            if (b == '\n')
            {
                break;
            }
            if (b != '\r')
            {
                line.write(b);
            }
        }
        return line.toString(StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException
    {
        socket.close();
    }
}
