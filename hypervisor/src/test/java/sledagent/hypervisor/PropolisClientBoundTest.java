package sledagent.hypervisor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * Issue 10 item 6: the JDK's HTTP client keeps about 240 B for every address it ever pooled a connection to
 * (a {@code ConnectionPool$CacheKey} with an empty list, left when the connection closes). 1,500 VMMs at distinct
 * addresses come and go; what the JVM still holds afterwards is counted in a real class histogram (the
 * {@code GC.class_histogram} diagnostic command, which collects first), and must stay near the client's bound.
 */
class PropolisClientBoundTest
{
    private static final int ADDRESSES = 1_500;
    private static final int MAX_FORGOTTEN = 64;
    private static final String CACHE_KEY = "jdk.internal.net.http.ConnectionPool$CacheKey";

    @Test
    void shouldNotKeepMoreThanItsBoundForAddressesOfVmmsThatAreGone() throws Exception
    {
        // Bound to the wildcard so that every 127.x.y.z (all loopback on Linux) reaches it: distinct addresses
        // without 1,500 servers. A test-only server that answers one path with 204.
        final HttpServer server = HttpServer.create(new InetSocketAddress(0), 128);
        final ExecutorService serverThreads = Executors.newFixedThreadPool(4);
        server.setExecutor(serverThreads);
        server.createContext("/instance/state", exchange ->
        {
            exchange.getRequestBody().readAllBytes();
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        server.start();
        final int port = server.getAddress().getPort();
        try (PropolisClient client = new PropolisClient(Duration.ofSeconds(2), MAX_FORGOTTEN, 100_000))
        {
            for (int i = 0; i < ADDRESSES; i++)
            {
                final String addr = "127.1." + (i / 250) + "." + (1 + i % 250) + ":" + port;
                client.putState(addr, PropolisStateRequested.Run, Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS);
                client.forget(addr);
            }
            // The VMMs are gone: their connections close, which is when the JDK leaves its leftovers behind.
            server.stop(0);

            assertThat(client.addressesTracked()).isLessThan(MAX_FORGOTTEN);
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
                assertThat(liveInstances(CACHE_KEY)).as("JDK connection-pool keys still held after %d addresses",
                    ADDRESSES).isLessThanOrEqualTo(4L * MAX_FORGOTTEN));
        }
        finally
        {
            server.stop(0);
            serverThreads.shutdownNow();
        }
    }

    /** Live instances of a class, from a class histogram taken after a full collection. */
    private static long liveInstances(final String className) throws Exception
    {
        final String histogram = (String)ManagementFactory.getPlatformMBeanServer().invoke(
            new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
            new Object[] {new String[0]}, new String[] {String[].class.getName()});
        for (final String line : histogram.split("\n"))
        {
            // " 60:   325   7800  jdk.internal.net.http.ConnectionPool$CacheKey (java.net.http@17.0.15)"
            final String[] fields = line.trim().split("\\s+");
            if (fields.length >= 4 && fields[3].equals(className))
            {
                return Long.parseLong(fields[1]);
            }
        }
        return 0;
    }
}
