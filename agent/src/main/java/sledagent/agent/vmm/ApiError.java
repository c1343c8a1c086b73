package sledagent.agent.vmm;

/**
 * An answer that is not a success: the HTTP status, the {@code error_code} (or null) and a message for
 * people. The well-known ones are constants so that every path answers the same condition the same way.
 */
public record ApiError(int status, String errorCode, String message)
{
    public static final String NO_SUCH_INSTANCE = "NO_SUCH_INSTANCE";
    public static final String INSTANCE_CHANNEL_FULL = "INSTANCE_CHANNEL_FULL";

    public static ApiError noSuchInstance()
    {
        return new ApiError(404, NO_SUCH_INSTANCE, "Not Found");
    }

    public static ApiError tearingDown()
    {
        return new ApiError(410, NO_SUCH_INSTANCE, "VMM is being torn down");
    }

    public static ApiError channelFull()
    {
        return new ApiError(503, INSTANCE_CHANNEL_FULL, "VMM request queue is full");
    }

    public static ApiError badRequest(final String message)
    {
        return new ApiError(400, null, message);
    }

    public static ApiError conflict(final String message)
    {
        return new ApiError(409, null, message);
    }

    public static ApiError internal(final String message)
    {
        return new ApiError(500, null, message);
    }

    /** The VMM's record could not be written (e.g. a full disk): the request did nothing. */
    /** 507: the record could not be written; {@code cause} is what the file system said (ENOSPC, EMFILE, ...). */
    public static ApiError storageFailed(final java.util.UUID propolisId, final java.io.IOException cause)
    {
        return new ApiError(507, null, "cannot persist the record of VMM " + propolisId + " ("
            + describe(cause) + "); the request was not applied");
    }

    /** The file system's own words for a failed write, e.g. "No space left on device", "Too many open files". */
    public static String describe(final java.io.IOException cause)
    {
        final String message = cause.getMessage();
        if (cause instanceof java.nio.file.FileSystemException fs && fs.getReason() != null)
        {
            return fs.getReason();
        }
        return message == null ? cause.getClass().getSimpleName() : message;
    }

    public static ApiError unavailable(final String message)
    {
        return new ApiError(503, null, message);
    }
}
