package sledagent.zones;

/** A zone operation failed: the operation, the zone, and (for native calls) the errno. */
public class ZoneException extends RuntimeException
{
    /**
     * The errno every backend reports when asked to destroy a zone that still has processes (EBUSY, as
     * {@code rmdir} of a populated cgroup does), so callers can tell "not empty yet" from other failures.
     */
    public static final int EBUSY = 16;

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
