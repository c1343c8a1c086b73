package sledagent.hypervisor.sim;

/** A request the simulated Propolis refuses: the HTTP status and Dropshot's {@code error_code} and message. */
final class SimRefusal extends Exception
{
    private final int statusCode;
    private final String errorCode;

    SimRefusal(final int statusCode, final String errorCode, final String message)
    {
        super(message, null, false, false);
        this.statusCode = statusCode;
        this.errorCode = errorCode;
    }

    /** The real server's answer before the first ensure (and, for the monitor, after rundown). */
    static SimRefusal noInstance()
    {
        return new SimRefusal(424, "NoInstance", "Server not initialized (no instance)");
    }

    /**
     * A state change the request queue denies. Dropshot's {@code for_status} puts the reason in {@code error_code}
     * and the status text in {@code message}; the real server answers exactly so.
     */
    static SimRefusal forbidden(final String reason)
    {
        return new SimRefusal(403, "instance state change not allowed: " + reason, "Forbidden");
    }

    static SimRefusal badRequest(final String message)
    {
        return new SimRefusal(400, null, message);
    }

    int statusCode()
    {
        return statusCode;
    }

    /** The {@code error_code}, or null. */
    String errorCode()
    {
        return errorCode;
    }
}
