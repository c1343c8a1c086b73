package sledagent.zones;

/** A zone operation failed: the operation, the zone, and (for native calls) the errno. */
public class ZoneException extends RuntimeException
{
    private final int errno;

    public ZoneException(final String message)
    {
        this(message, 0, null);
    }

    public ZoneException(final String message, final Throwable cause)
    {
        this(message, 0, cause);
    }

    public ZoneException(final String message, final int errno, final Throwable cause)
    {
        super(errno == 0 ? message : message + " (errno " + errno + ")", cause);
        this.errno = errno;
    }

    /** The errno of the failed native call, or 0. */
    public int errno()
    {
        return errno;
    }
}
