package sledagent.hypervisor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;

/**
 * A raw-socket HTTP/1.1 server for client tests: records each request exactly as it arrived and answers with a
 * scripted response, or holds it unanswered and notes when the client hangs up.
 */
final class ScriptedHttpServer implements AutoCloseable
{
    /** A request as received; header names lower-cased. */
    record Recorded(String method, String target, Map<String, String> headers, String body)
    {
    }

    private final ServerSocket server;
    private final Thread acceptor;
    private final BlockingQueue<Recorded> requests = new LinkedBlockingQueue<>();
    private final CopyOnWriteArrayList<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger hangUps = new AtomicInteger();
    private volatile int status = 200;
    private volatile String body = "";
    private volatile boolean hold;

    ScriptedHttpServer() throws IOException
    {
        this(InetAddress.getLoopbackAddress());
    }

    private ScriptedHttpServer(final InetAddress bindAddress) throws IOException
    {
        server = new ServerSocket(0, 50, bindAddress);
        acceptor = new Thread(this::acceptLoop, "scripted-http-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** A server on {@code [::1]}; the test is skipped where the host has no IPv6 loopback. */
    static ScriptedHttpServer onIpv6Loopback()
    {
        try
        {
            return new ScriptedHttpServer(InetAddress.getByName("::1"));
        }
        catch (final IOException e)
        {
            Assumptions.abort("no IPv6 loopback here: " + e);
            throw new AssertionError(e);
        }
    }

    /** {@code 127.0.0.1:port} or {@code [::1]:port}. */
    String addr()
    {
        final InetAddress address = server.getInetAddress();
        return address instanceof Inet6Address
            ? "[::1]:" + server.getLocalPort()
            : address.getHostAddress() + ":" + server.getLocalPort();
    }

    /** Answer every later request with this status and body. */
    void respond(final int newStatus, final String newBody)
    {
        status = newStatus;
        body = newBody;
        hold = false;
    }

    /** Read every later request and never answer it. */
    void hold()
    {
        hold = true;
    }

    /** The next request received, waiting up to 5 s. */
    Recorded nextRequest() throws InterruptedException
    {
        final Recorded recorded = requests.poll(5, TimeUnit.SECONDS);
        if (recorded == null)
        {
            throw new AssertionError("no request arrived within 5 s");
        }
        return recorded;
    }

    /** How many held requests the client has abandoned by closing the connection. */
    int hangUps()
    {
        return hangUps.get();
    }

    @Override
    public void close() throws IOException
    {
        server.close();
        for (final Socket socket : sockets)
        {
            socket.close();
        }
    }

    private void acceptLoop()
    {
        while (!server.isClosed())
        {
            try
            {
                final Socket socket = server.accept();
                sockets.add(socket);
                final Thread thread = new Thread(() -> serve(socket), "scripted-http-conn");
                thread.setDaemon(true);
                thread.start();
            }
            catch (final IOException e)
            {
                return;
            }
        }
    }

    private void serve(final Socket socket)
    {
        try (socket)
        {
            final InputStream in = socket.getInputStream();
            final String[] requestLine = readLine(in).split(" ");
            final Map<String, String> headers = new HashMap<>();
            for (String line = readLine(in); !line.isEmpty(); line = readLine(in))
            {
                final int colon = line.indexOf(':');
                headers.put(line.substring(0, colon).strip().toLowerCase(Locale.ROOT), line.substring(colon + 1)
                    .strip());
            }
            final int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            final String requestBody = new String(in.readNBytes(length), StandardCharsets.UTF_8);
            requests.add(new Recorded(requestLine[0], requestLine[1], Map.copyOf(headers), requestBody));
            if (hold)
            {
                awaitHangUp(in);
                return;
            }
            final byte[] payload = body.getBytes(StandardCharsets.UTF_8);
            final String head = "HTTP/1.1 " + status + " Scripted\r\n"
                + "content-type: application/json\r\n"
                + "content-length: " + payload.length + "\r\n"
                + "connection: close\r\n\r\n";
            final OutputStream out = socket.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(payload);
            out.flush();
        }
        catch (final IOException | RuntimeException e)
        {
            // A client that hangs up mid-exchange is not this server's problem.
        }
    }

    /** Never answers; a read of -1 (or a reset) means the client gave up and closed the connection. */
    private void awaitHangUp(final InputStream in)
    {
        try
        {
            while (in.read() >= 0)
            {
                // Discard anything else it sends.
            }
        }
        catch (final IOException reset)
        {
            // Closed by reset rather than FIN: the same for this purpose.
        }
        hangUps.incrementAndGet();
    }

    private static String readLine(final InputStream in) throws IOException
    {
        final ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b = in.read(); b != '\n'; b = in.read())
        {
            if (b < 0)
            {
                throw new IOException("connection closed mid-request");
            }
            if (b != '\r')
            {
                line.write(b);
            }
        }
        return line.toString(StandardCharsets.ISO_8859_1);
    }
}
