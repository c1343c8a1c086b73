package sledagent.agent.cli;

/** A bad {@code vmm} command line: exit 2 with the message and the usage of {@link #command()}. */
public final class UsageException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    private final String command;

    /**
     * A usage error.
     *
     * @param message what is wrong, for people
     * @param command the subcommand whose usage to show, or null for the usage of {@code vmm}
     */
    public UsageException(final String message, final String command)
    {
        super(message);
        this.command = command;
    }

    /** The subcommand whose usage to show, or null for the usage of {@code vmm} itself. */
    public String command()
    {
        return command;
    }
}
