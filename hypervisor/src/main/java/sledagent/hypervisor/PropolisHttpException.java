package sledagent.hypervisor;

/**
 * Propolis answered, but not with a 2xx: the status, Dropshot's {@code error_code} (or null) and its
 * {@code message}. A transport failure or a timeout is an {@link java.io.IOException} instead, so a caller can tell
 * "Propolis said no" from "Propolis did not say anything".
 */
public final class PropolisHttpException extends RuntimeException
{
    private final int statusCode;
    private final String errorCode;
    private final String serverMessage;
    private final String requestId;

    /**
     * @param operation     what was asked, e.g. {@code "PUT /instance/state"}, for the exception message only
     * @param statusCode    the HTTP status
     * @param errorCode     the body's {@code error_code}, or null when absent or unreadable
     * @param serverMessage the body's {@code message}, or a short excerpt of a body that was not an Error
     * @param requestId     the body's {@code request_id}, or null
     */
    public PropolisHttpException(final String operation, final int statusCode, final String errorCode,
        final String serverMessage, final String requestId)
    {
        super(operation + " -> " + statusCode + (errorCode == null ? "" : " " + errorCode) + ": " + serverMessage);
        this.statusCode = statusCode;
        this.errorCode = errorCode;
        this.serverMessage = serverMessage;
        this.requestId = requestId;
    }

    /** The HTTP status, e.g. 424. */
    public int statusCode()
    {
        return statusCode;
    }

    /** Dropshot's {@code error_code}, e.g. {@code "NoInstance"}, or null. */
    public String errorCode()
    {
        return errorCode;
    }

    /** The {@code message} of the Error body as sent (never null). */
    public String serverMessage()
    {
        return serverMessage;
    }

    /** The {@code request_id} of the Error body, or null. */
    public String requestId()
    {
        return requestId;
    }

    /** 424 or 410 with {@code NoInstance}: this Propolis has no VM (never ensured, or it restarted). */
    public boolean isNoInstance()
    {
        return "NoInstance".equals(errorCode);
    }
}
