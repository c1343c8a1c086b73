package sledagent.zones.illumos;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import sledagent.zones.ZoneException;

/**
 * The two libc calls that kill a whole illumos zone: {@code getzoneidbyname(3C)} and {@code sigsend(2)} with
 * {@code P_ZONEID}. Loaded only on SunOS, and only when first used, so Linux never loads it.
 */
interface IllumosLibC extends Library
{
    /** {@code idtype_t} value for "every process of a zone" ({@code sys/procset.h}). */
    int P_ZONEID = 12;
    int SIGKILL = 9;
    int ESRCH = 3;
    int EINVAL = 22;

    /** {@code zoneid_t getzoneidbyname(const char *)}; fails (EINVAL) unless the zone is ready or running. */
    int getzoneidbyname(String name) throws LastErrorException;

    /** {@code int sigsend(idtype_t, id_t, int)}; {@code id_t} is an int on illumos. */
    int sigsend(int idtype, int id, int sig) throws LastErrorException;

    /**
     * SIGKILLs every process of zone {@code name}.
     *
     * @return false if the zone has no id (not ready or running) or no process left.
     * @throws ZoneException on another error, or when not on SunOS.
     */
    static boolean sigkillZone(final String name)
    {
        final IllumosLibC libc = Holder.LIBC;
        if (libc == null)
        {
            throw new ZoneException("sigsend(P_ZONEID) needs illumos; this is " + System.getProperty("os.name"));
        }
        final int zoneId;
        try
        {
            zoneId = libc.getzoneidbyname(name);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == EINVAL)
            {
                return false;
            }
            throw new ZoneException("getzoneidbyname(" + name + ")", ex.getErrorCode(), ex);
        }
        try
        {
            libc.sigsend(P_ZONEID, zoneId, SIGKILL);
            return true;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return false;
            }
            throw new ZoneException("sigsend(P_ZONEID, " + zoneId + ", SIGKILL) for " + name, ex.getErrorCode(), ex);
        }
    }

    /** Loads libc on first use, on SunOS only. */
    final class Holder
    {
        static final IllumosLibC LIBC = Platform.isSolaris() ? Native.load("c", IllumosLibC.class) : null;

        private Holder()
        {
        }
    }
}
