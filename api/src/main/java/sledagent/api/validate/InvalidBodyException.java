package sledagent.api.validate;

/**
 * A request body that breaks a constraint of the spec (or one of the agent's documented bounds): which value, by
 * its JSON path, and what is wrong with it. The message is {@code "<path>: <problem>"}, for example
 * {@code vmm_spec.board.cpus: 300 is outside 0..255 (uint8)}.
 */
public final class InvalidBodyException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final String path;
    private final String problem;

    /** {@code path} as {@link FieldPath} renders it, {@code problem} a phrase that follows it. */
    public InvalidBodyException(final String path, final String problem)
    {
        super(path + ": " + problem, null, false, false);
        this.path = path;
        this.problem = problem;
    }

    /** The offending value's JSON path: {@code local_config.nics[0].slot}, {@code body} for the whole body. */
    public String path()
    {
        return path;
    }

    /** What is wrong with it, without the path. */
    public String problem()
    {
        return problem;
    }
}
