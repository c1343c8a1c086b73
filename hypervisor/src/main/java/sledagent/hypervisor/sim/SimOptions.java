package sledagent.hypervisor.sim;

import java.net.InetSocketAddress;
import sledagent.hypervisor.server.ListenAddress;

/**
 * propolis-sim's command line: {@code --listen HOST:PORT} (required; {@code [v6]:PORT} too; port 0 picks a free
 * one), {@code --step-ms N} (delay between simulated transitions), {@code --migrate-step-ms N} (delay between
 * migration phases; default: the step), {@code --rundown-ms N} (from a finished migration out to Destroyed; default:
 * the migration step) and {@code --fault NAME} (a fault in force from the start, as if {@code PUT /mock/fault} had
 * been sent before the first request). A later occurrence of an option replaces an earlier one.
 *
 * @param listen        where to serve
 * @param stepMs        delay between simulated transitions
 * @param migrateStepMs delay between migration phases, on either side
 * @param rundownMs     delay from a finished migration out to Destroyed
 * @param fault         the fault in force from the start
 */
record SimOptions(InetSocketAddress listen, long stepMs, long migrateStepMs, long rundownMs, SimFault fault)
{
    /** Default delay between simulated transitions: quick enough for tests, slow enough to see each state. */
    static final long DEFAULT_STEP_MS = 5;

    static final String USAGE = "usage: propolis-sim --listen HOST:PORT|[V6]:PORT [--step-ms N]"
        + " [--migrate-step-ms N] [--rundown-ms N]"
        + " [--fault none|hang_stop|hang_http|exit_now|fail_start|fail_migration]";

    /**
     * @param args the command line
     * @return the options
     * @throws IllegalArgumentException with a message for the user
     */
    static SimOptions parse(final String[] args)
    {
        InetSocketAddress listen = null;
        long stepMs = DEFAULT_STEP_MS;
        long migrateStepMs = -1;
        long rundownMs = -1;
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
                    stepMs = parseMillis(name, value);
                }
                case "--migrate-step-ms" ->
                {
                    final String value = equals < 0 ? valueAfter(args, i++) : arg.substring(equals + 1);
                    migrateStepMs = parseMillis(name, value);
                }
                case "--rundown-ms" ->
                {
                    final String value = equals < 0 ? valueAfter(args, i++) : arg.substring(equals + 1);
                    rundownMs = parseMillis(name, value);
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
        if (migrateStepMs < 0)
        {
            migrateStepMs = stepMs;
        }
        if (rundownMs < 0)
        {
            rundownMs = migrateStepMs;
        }
        return new SimOptions(listen, stepMs, migrateStepMs, rundownMs, fault);
    }

    private static String valueAfter(final String[] args, final int index)
    {
        if (index + 1 >= args.length)
        {
            throw new IllegalArgumentException(args[index] + " needs a value");
        }
        return args[index + 1];
    }

    private static long parseMillis(final String option, final String value)
    {
        try
        {
            final long millis = Long.parseLong(value);
            if (millis < 0)
            {
                throw new IllegalArgumentException(option + " must be >= 0: " + value);
            }
            return millis;
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException(option + " is not a number: " + value, e);
        }
    }
}
