package sledagent.zones.illumos;

import java.util.Locale;

/** The states {@code zoneadm list -cip} reports (illumos {@code zone_state_str}). */
public enum ZoneState
{
    /** Configured with {@code zonecfg} but not installed. */
    CONFIGURED,
    /** An install or uninstall was interrupted; only {@code uninstall -F} helps. */
    INCOMPLETE,
    /** Installed and halted: no process runs in it. */
    INSTALLED,
    /** Kernel resources set up, {@code zsched} running, no user process yet. */
    READY,
    /** Mounted for administration ({@code zoneadm mount}). */
    MOUNTED,
    /** Booted. */
    RUNNING,
    /** Being halted; stays here while an unkillable process remains. */
    SHUTTING_DOWN,
    /** Processes gone but kernel resources still being torn down. */
    DOWN,
    /** A state this code does not know (a newer illumos). */
    UNKNOWN;

    /** Parses {@code zoneadm}'s spelling, e.g. {@code "shutting_down"}; anything else is {@link #UNKNOWN}. */
    public static ZoneState parse(final String text)
    {
        for (final ZoneState state : values())
        {
            if (state != UNKNOWN && state.text().equals(text))
            {
                return state;
            }
        }
        return UNKNOWN;
    }

    /** {@code zoneadm}'s spelling. */
    public String text()
    {
        return name().toLowerCase(Locale.ROOT);
    }

    /** True for states in which no process of the zone can be running. */
    public boolean isEmpty()
    {
        return this == CONFIGURED || this == INCOMPLETE || this == INSTALLED;
    }

    /** True for the states omicron waits out before it can remove a zone: {@code shutting_down} and {@code down}. */
    public boolean isTransient()
    {
        return this == SHUTTING_DOWN || this == DOWN;
    }
}
