package sledagent.agent.cli;

/**
 * A request to the agent did not succeed: unreachable, timed out, or answered with an error. The message is
 * complete and meant for people (printed after {@code sled-agent: }); the command exits 1.
 */
public final class AgentException extends Exception
{
    private static final long serialVersionUID = 1L;

    /**
     * A failure with its operator-facing message.
     *
     * @param message what went wrong, e.g. {@code no such VMM ... (404 NO_SUCH_INSTANCE)}
     */
    public AgentException(final String message)
    {
        super(message);
    }
}
