package sledagent.hypervisor.sim;

import java.net.InetSocketAddress;

/**
 * propolis-sim's command line: {@code --listen HOST:PORT} (required; {@code [v6]:PORT} too; port 0 picks a free
 * one), {@code --step-ms N} (delay between simulated transitions) and {@code --fault NAME} (a fault in force from
 * the start, as if {@code PUT /mock/fault} had been sent before the first request).
 *
 * @param listen where to serve
 * @param stepMs delay between simulated transitions
 * @param fault  the fault in force from the start
 */
record SimOptions(InetSocketAddress listen, long stepMs, SimFault fault)
{
    /** Default delay between simulated transitions: quick enough for tests, slow enough to see each state. */
    static final long DEFAULT_STEP_MS = 5;

    static final String USAGE = "usage: propolis-sim --listen HOST:PORT|[V6]:PORT [--step-ms N]"
        + " [--fault none|hang_stop|hang_http|exit_now|fail_start]";

    /**
     * @param args the command line
     * @return the options
     * @throws IllegalArgumentException with a message for the user
     */
    static SimOptions parse(final String[] args)
    {
        InetSocketAddress listen = null;
        long stepMs = DEFAULT_STEP_MS;
        SimFault fault = SimFault.NONE;
        for (int i = 0; i < args.length; i++)
        {
            final String arg = args[i];
            final int equals = arg.indexOf('=');
            final String name = equals < 0 ? arg : arg.substring(0, equals);
            switch (name)
            {
                case "--listen" ->
                {
                    final String value = equals < 0 ? valueAfter(args, i++) : arg.substring(equals + 1);
                    listen = ListenAddress.parse(value);
                }
                case "--step-ms" ->
                {
                    final String value = equals < 0 ? valueAfter(args, i++) : arg.substring(equals + 1);
                    stepMs = parseStepMs(value);
                }
                case "--fault" ->
                {
                    final String value = equals < 0 ? valueAfter(args, i++) : arg.substring(equals + 1);
                    fault = SimFault.fromWire(value);
                }
                default -> throw new IllegalArgumentException("unknown argument: " + arg);
            }
        }
        if (listen == null)
        {
            throw new IllegalArgumentException("--listen is required");
        }
        return new SimOptions(listen, stepMs, fault);
    }

    private static String valueAfter(final String[] args, final int index)
    {
        if (index + 1 >= args.length)
        {
            throw new IllegalArgumentException(args[index] + " needs a value");
        }
        return args[index + 1];
    }

    private static long parseStepMs(final String value)
    {
        try
        {
            final long stepMs = Long.parseLong(value);
            if (stepMs < 0)
            {
                throw new IllegalArgumentException("--step-ms must be >= 0: " + value);
            }
            return stepMs;
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException("--step-ms is not a number: " + value, e);
        }
    }
}
