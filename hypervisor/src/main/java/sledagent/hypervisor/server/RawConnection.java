package sledagent.hypervisor.server;

import com.sun.net.httpserver.HttpExchange;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;

/**
 * The raw streams under a JDK {@code HttpExchange}, for a WebSocket upgrade.
 *
 * <p>Why: the Propolis core serves HTTP with the JDK's {@code com.sun.net.httpserver}, which has no upgrade API (a
 * 101 gets a zero-length body and the request body is empty for a GET). Its exchange does keep the connection's
 * raw input (past the request head) and output streams, in fields that have not changed since JDK 6. Reading them
 * needs {@code --add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED} (the launchers pass it). This is the
 * smallest way to serve the WebSocket on the same port as the rest of the API; the alternative, moving the whole
 * server to Netty, is a larger change for one endpoint. Without the flag {@link #of} returns null and the endpoint
 * answers 501.
 */
final class RawConnection
{
    private static final Field IMPL = field("sun.net.httpserver.HttpExchangeImpl", "impl");
    private static final Field RAW_IN = field("sun.net.httpserver.ExchangeImpl", "ris");
    private static final Field RAW_OUT = field("sun.net.httpserver.ExchangeImpl", "ros");

    final InputStream in;
    final OutputStream out;

    private RawConnection(final InputStream in, final OutputStream out)
    {
        this.in = in;
        this.out = out;
    }

    /** True if this JVM lets us reach the raw streams. */
    static boolean available()
    {
        return IMPL != null && RAW_IN != null && RAW_OUT != null;
    }

    /**
     * @param exchange an exchange whose response has not been started
     * @return its raw streams, or null if this JVM does not let us reach them
     */
    static RawConnection of(final HttpExchange exchange)
    {
        if (!available() || !IMPL.getDeclaringClass().isInstance(exchange))
        {
            return null;
        }
        try
        {
            final Object impl = IMPL.get(exchange);
            return new RawConnection((InputStream) RAW_IN.get(impl), (OutputStream) RAW_OUT.get(impl));
        }
        catch (final IllegalAccessException | RuntimeException e)
        {
            return null;
        }
    }

    private static Field field(final String className, final String name)
    {
        try
        {
            final Field field = Class.forName(className).getDeclaredField(name);
            field.setAccessible(true);
            return field;
        }
        catch (final ReflectiveOperationException | RuntimeException e)
        {
            return null;
        }
    }
}
