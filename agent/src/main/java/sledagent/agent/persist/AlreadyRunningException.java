package sledagent.agent.persist;

/**
 * Another agent holds this agent's state directory or zone root. {@code serve} exits 2 with the message, which
 * names the holder's pid and the path.
 */
public final class AlreadyRunningException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    public AlreadyRunningException(final String message)
    {
        super(message);
    }
}
