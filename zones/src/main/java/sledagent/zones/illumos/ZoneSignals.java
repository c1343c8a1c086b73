package sledagent.zones.illumos;

import com.sun.jna.Platform;

/**
 * The force kill that comes before {@code zoneadm halt}: SIGKILL to every process of a zone at once. On illumos
 * that is {@code sigsend(P_ZONEID, id, SIGKILL)} (see {@link IllumosLibC}); elsewhere (tests against stand-ins)
 * it is whatever the test supplies, or nothing.
 */
@FunctionalInterface
public interface ZoneSignals
{
    /** Does nothing: for hosts that are not illumos, where {@code zoneadm halt} alone does the killing. */
    ZoneSignals NONE = zoneName -> false;

    /**
     * SIGKILLs every process in the zone.
     *
     * @return true if signals were sent, false if the zone had no id or no process.
     */
    boolean sigkillAll(String zoneName);

    /** {@code sigsend(P_ZONEID)} on SunOS; {@link #NONE} elsewhere (so Linux never loads the binding). */
    static ZoneSignals forThisHost()
    {
        return Platform.isSolaris() ? IllumosLibC::sigkillZone : NONE;
    }
}
