package sledagent.hypervisor.sim;

import java.util.Locale;

/**
 * The faults {@code PUT /mock/fault} can inject, by their JSON spelling. One at a time; setting one replaces the last.
 */
enum SimFault
{
    /** No fault: behave like a healthy Propolis. */
    NONE,
    /** A Stop publishes {@code Stopping} and then never progresses (a VM wedged in halt). */
    HANG_STOP,
    /** From now on, read every request and answer none (a Propolis whose HTTP server is stuck). */
    HANG_HTTP,
    /** Answer 204, then halt the process with status 1 at once (a crashed Propolis). */
    EXIT_NOW,
    /** A Run goes {@code Starting}, then {@code Failed} (a VM that cannot start). */
    FAIL_START,
    /**
     * A migration out fails part-way, after {@code Pause}: migration_out {@code Error} and {@code Running} again here,
     * migration_in {@code Error} and {@code Failed} on the target. No effect on a migration target.
     */
    FAIL_MIGRATION;

    /** The JSON spelling, e.g. {@code "hang_stop"}. */
    String wireName()
    {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * @param wireName the JSON spelling
     * @return the fault
     * @throws IllegalArgumentException for an unknown spelling
     */
    static SimFault fromWire(final String wireName)
    {
        for (final SimFault fault : values())
        {
            if (fault.wireName().equals(wireName))
            {
                return fault;
            }
        }
        throw new IllegalArgumentException("unknown fault \"" + wireName + "\"; expected one of "
            + "none, hang_stop, hang_http, exit_now, fail_start, fail_migration");
    }
}
