package sledagent.api.validate;

import java.math.BigInteger;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The {@code format}s the v48 request schemas use, read as the Rust types behind them read their input: integer
 * formats are the ranges of {@code u8 .. u64} ({@code uint} is {@code usize}, 64-bit), {@code uuid} the hyphenated
 * RFC 4122 form, {@code ipv4}/{@code ipv6}/{@code ip} what {@code std::net} parses (no leading zeros, no zone), and
 * {@code date-time} RFC 3339 as the binder ({@code Json}) reads it. {@code socket-addr} is the agent's own format
 * for {@code propolis_addr} ({@code SocketAddr} in Rust; the agent connects to it, so port 0 is refused).
 */
final class Formats
{
    /** Inclusive ranges of the integer formats. */
    static final Map<String, BigInteger[]> INTEGER_RANGES = Map.of(
        "uint8", range(BigInteger.ZERO, BigInteger.valueOf(255)),
        "uint16", range(BigInteger.ZERO, BigInteger.valueOf(65_535)),
        "uint32", range(BigInteger.ZERO, BigInteger.valueOf(4_294_967_295L)),
        "uint64", range(BigInteger.ZERO, BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE)),
        "uint", range(BigInteger.ZERO, BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE)),
        "int8", range(BigInteger.valueOf(-128), BigInteger.valueOf(127)),
        "int16", range(BigInteger.valueOf(-32_768), BigInteger.valueOf(32_767)),
        "int32", range(BigInteger.valueOf(Integer.MIN_VALUE), BigInteger.valueOf(Integer.MAX_VALUE)),
        "int64", range(BigInteger.valueOf(Long.MIN_VALUE), BigInteger.valueOf(Long.MAX_VALUE)));

    private static final Pattern UUID_TEXT =
        Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    /** RFC 3339 {@code date-time}; the fraction limited to the 9 digits an {@code Instant} holds. */
    private static final Pattern DATE_TIME = Pattern.compile(
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})");
    private static final Pattern HEX_GROUP = Pattern.compile("[0-9a-fA-F]{1,4}");

    private Formats()
    {
    }

    private static BigInteger[] range(final BigInteger min, final BigInteger max)
    {
        return new BigInteger[] {min, max};
    }

    /**
     * Whether {@code text} is in string format {@code format}. Returns null when it is, else what it should have
     * been (a phrase: "a uuid"); an unknown format is an error at load time, see {@link #isKnownStringFormat}.
     */
    static String checkString(final String format, final String text)
    {
        final boolean ok = switch (format)
        {
            case "uuid" -> text.length() == 36 && UUID_TEXT.matcher(text).matches();
            case "ipv4" -> isIpv4(text);
            case "ipv6" -> isIpv6(text);
            case "ip" -> isIpv4(text) || isIpv6(text);
            case "date-time" -> isDateTime(text);
            case "socket-addr" -> isSocketAddr(text);
            default -> throw new IllegalArgumentException("unknown string format " + format);
        };
        if (ok)
        {
            return null;
        }
        return switch (format)
        {
            case "uuid" -> "a uuid (8-4-4-4-12 hex digits)";
            case "ipv4" -> "an IPv4 address";
            case "ipv6" -> "an IPv6 address";
            case "ip" -> "an IP address";
            case "date-time" -> "an RFC 3339 date-time";
            default -> "ip:port or [ipv6]:port with a port in 1..65535";
        };
    }

    /** The string formats {@link #checkString} knows. */
    static boolean isKnownStringFormat(final String format)
    {
        return switch (format)
        {
            case "uuid", "ipv4", "ipv6", "ip", "date-time", "socket-addr" -> true;
            default -> false;
        };
    }

    /** Dotted quad, each part 0..255 in decimal without a leading zero (as Rust's {@code Ipv4Addr} parses). */
    static boolean isIpv4(final String text)
    {
        final String[] parts = text.split("\\.", -1);
        if (parts.length != 4)
        {
            return false;
        }
        for (final String part : parts)
        {
            if (part.isEmpty() || part.length() > 3 || (part.length() > 1 && part.charAt(0) == '0'))
            {
                return false;
            }
            for (int i = 0; i < part.length(); i++)
            {
                if (part.charAt(i) < '0' || part.charAt(i) > '9')
                {
                    return false;
                }
            }
            if (Integer.parseInt(part) > 255)
            {
                return false;
            }
        }
        return true;
    }

    /**
     * RFC 4291 text: eight groups of 1..4 hex digits, one {@code ::} standing for one or more zero groups, the last
     * two groups optionally a dotted quad. No zone ({@code %eth0}), no brackets.
     */
    static boolean isIpv6(final String text)
    {
        final int gap = text.indexOf("::");
        if (gap >= 0 && text.indexOf("::", gap + 1) >= 0)
        {
            return false;
        }
        final int groups;
        if (gap < 0)
        {
            groups = groups(text, true);
            return groups == 8;
        }
        final int head = groups(text.substring(0, gap), false);
        final int tail = groups(text.substring(gap + 2), true);
        return head >= 0 && tail >= 0 && head + tail <= 7;
    }

    /** Groups in a colon-separated run ("" is none), an IPv4 tail counting two; -1 if malformed. */
    private static int groups(final String run, final boolean ipv4TailAllowed)
    {
        if (run.isEmpty())
        {
            return 0;
        }
        final String[] parts = run.split(":", -1);
        int count = 0;
        for (int i = 0; i < parts.length; i++)
        {
            if (i == parts.length - 1 && ipv4TailAllowed && parts[i].indexOf('.') >= 0)
            {
                if (!isIpv4(parts[i]))
                {
                    return -1;
                }
                count += 2;
            }
            else if (HEX_GROUP.matcher(parts[i]).matches())
            {
                count++;
            }
            else
            {
                return -1;
            }
        }
        return count;
    }

    private static boolean isDateTime(final String text)
    {
        if (!DATE_TIME.matcher(text).matches())
        {
            return false;
        }
        try
        {
            OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME);
            return true;
        }
        catch (final DateTimeParseException e)
        {
            return false;
        }
    }

    /** {@code a.b.c.d:port} or {@code [v6]:port}, port 1..65535 in decimal. */
    static boolean isSocketAddr(final String text)
    {
        final int colon = text.lastIndexOf(':');
        if (colon <= 0 || !isPort(text.substring(colon + 1)))
        {
            return false;
        }
        final String host = text.substring(0, colon);
        if (host.startsWith("["))
        {
            return host.endsWith("]") && isIpv6(host.substring(1, host.length() - 1));
        }
        return isIpv4(host);
    }

    private static boolean isPort(final String text)
    {
        if (text.isEmpty() || text.length() > 5 || (text.length() > 1 && text.charAt(0) == '0'))
        {
            return false;
        }
        for (int i = 0; i < text.length(); i++)
        {
            if (text.charAt(i) < '0' || text.charAt(i) > '9')
            {
                return false;
            }
        }
        final int port = Integer.parseInt(text);
        return port >= 1 && port <= 65_535;
    }
}
