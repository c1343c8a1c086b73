package sledagent.hypervisor.server;

/**
 * A request a Propolis server refuses: the HTTP status and Dropshot's {@code error_code} and message, as the real
 * server sends them.
 */
public final class PropolisRefusal extends Exception
{
    private static final long serialVersionUID = 1L;

    private final int statusCode;
    private final String errorCode;

    /**
     * @param statusCode the HTTP status
     * @param errorCode  Dropshot's {@code error_code}, or null
     * @param message    the {@code message}
     */
    public PropolisRefusal(final int statusCode, final String errorCode, final String message)
    {
        super(message, null, false, false);
        this.statusCode = statusCode;
        this.errorCode = errorCode;
    }

    /** The real server's answer before the first ensure (and, for the monitor, after rundown). */
    public static PropolisRefusal noInstance()
    {
        return new PropolisRefusal(424, "NoInstance", "Server not initialized (no instance)");
    }

    /**
     * A state change the request queue denies. Dropshot's {@code for_status} puts the reason in {@code error_code}
     * and the status text in {@code message}; the real server answers exactly so.
     *
     * @param reason the request queue's {@code RequestDeniedReason} text
     * @return the 403
     */
    public static PropolisRefusal forbidden(final String reason)
    {
        return new PropolisRefusal(403, "instance state change not allowed: " + reason, "Forbidden");
    }

    /**
     * @param message what was wrong with the request
     * @return a 400 without an error code
     */
    public static PropolisRefusal badRequest(final String message)
    {
        return new PropolisRefusal(400, null, message);
    }

    /** The HTTP status. */
    public int statusCode()
    {
        return statusCode;
    }

    /** The {@code error_code}, or null. */
    public String errorCode()
    {
        return errorCode;
    }
}
