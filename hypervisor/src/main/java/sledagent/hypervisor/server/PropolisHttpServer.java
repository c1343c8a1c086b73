package sledagent.hypervisor.server;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;

/** The JDK HttpServer a Propolis server listens with, set up for small, latency-bound answers. */
public final class PropolisHttpServer
{
    /**
     * The JDK server's switch for TCP_NODELAY on accepted connections. It writes an answer's headers and body in two
     * writes; with Nagle on, the body waits for the client's delayed ACK of the headers: about 40 ms on every
     * state-monitor answer, which is how the agent learns that a guest crashed or stopped (strace of a QEMU crash
     * before this: headers read 41 ms before the body). Read once, when the server's configuration class loads.
     */
    static final String NODELAY_PROPERTY = "sun.net.httpserver.nodelay";

    private PropolisHttpServer()
    {
    }

    /**
     * A server bound to {@code address}, not started, with TCP_NODELAY on its connections.
     *
     * @param address where to listen
     * @param backlog the listen backlog
     * @return the bound server
     * @throws IOException if it cannot bind
     */
    public static HttpServer bind(final InetSocketAddress address, final int backlog) throws IOException
    {
        System.setProperty(NODELAY_PROPERTY, "true");
        return HttpServer.create(address, backlog);
    }
}
