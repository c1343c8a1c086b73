package sledagent.hypervisor.server;

import java.net.Inet6Address;
import java.net.InetSocketAddress;

/** {@code HOST:PORT} or {@code [v6]:PORT}, the form Propolis and omicron use for a socket address. */
public final class ListenAddress
{
    private ListenAddress()
    {
    }

    /**
     * @param text {@code 127.0.0.1:12400}, {@code [::1]:12400}, {@code localhost:0} (port 0: any free port)
     * @return the resolved socket address
     * @throws IllegalArgumentException if it is not of that form or the host does not resolve
     */
    public static InetSocketAddress parse(final String text)
    {
        final String host;
        final String port;
        if (text.startsWith("["))
        {
            final int close = text.indexOf(']');
            if (close < 0 || close + 1 >= text.length() || text.charAt(close + 1) != ':')
            {
                throw invalid(text);
            }
            host = text.substring(1, close);
            port = text.substring(close + 2);
        }
        else
        {
            final int colon = text.lastIndexOf(':');
            // More than one colon without brackets is a bare IPv6 address: ambiguous, so refused.
            if (colon <= 0 || text.indexOf(':') != colon)
            {
                throw invalid(text);
            }
            host = text.substring(0, colon);
            port = text.substring(colon + 1);
        }
        if (host.isEmpty())
        {
            throw invalid(text);
        }
        final InetSocketAddress address = new InetSocketAddress(host, parsePort(text, port));
        if (address.isUnresolved())
        {
            throw new IllegalArgumentException("cannot resolve host of " + text);
        }
        return address;
    }

    /** The address as {@code ip:port}, or {@code [v6]:port}. */
    public static String format(final InetSocketAddress address)
    {
        final String ip = address.getAddress().getHostAddress();
        return address.getAddress() instanceof Inet6Address
            ? "[" + ip + "]:" + address.getPort()
            : ip + ":" + address.getPort();
    }

    private static int parsePort(final String text, final String port)
    {
        if (port.isEmpty() || port.length() > 5 || !port.chars().allMatch(c -> c >= '0' && c <= '9'))
        {
            throw invalid(text);
        }
        final int value = Integer.parseInt(port);
        if (value > 65535)
        {
            throw invalid(text);
        }
        return value;
    }

    private static IllegalArgumentException invalid(final String text)
    {
        return new IllegalArgumentException("not HOST:PORT or [v6]:PORT: " + text);
    }
}
