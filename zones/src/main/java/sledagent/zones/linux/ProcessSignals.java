package sledagent.zones.linux;

import static sledagent.zones.linux.LinuxLibC.ESRCH;
import static sledagent.zones.linux.LinuxLibC.SYS_PIDFD_OPEN;
import static sledagent.zones.linux.LinuxLibC.SYS_PIDFD_SEND_SIGNAL;

import com.sun.jna.LastErrorException;
import java.util.function.LongPredicate;
import sledagent.zones.ZoneException;

/**
 * SIGKILL for processes the agent did not start itself and so holds no handle on: members found by scanning
 * {@code /proc} or a frozen cgroup's {@code cgroup.procs}.
 *
 * <p>A pid read from such a list may have been reused by the time it is signalled. So the pid is first pinned
 * with {@code pidfd_open}, then checked again ({@code stillOurs}), and only then signalled <em>through the
 * pidfd</em>. If the original process died and the pid was reused between the open and the check, the check
 * may pass on the newcomer, but the signal still goes to the pinned (dead) process and is lost: a stranger is
 * never hit.
 */
public final class ProcessSignals
{
    /** SIGKILL, the same number on every Linux architecture. */
    public static final int SIGKILL = LinuxLibC.SIGKILL;

    private ProcessSignals()
    {
    }

    /**
     * SIGKILLs {@code pid} through a pidfd if {@code stillOurs} holds for it once pinned.
     *
     * @return true if the signal was sent; false if the process was gone or is not ours.
     * @throws ZoneException on an unexpected error from {@code pidfd_open} or {@code pidfd_send_signal}.
     */
    public static boolean killIf(final long pid, final LongPredicate stillOurs)
    {
        final LinuxLibC libc = LinuxLibC.instance();
        final int pidfd;
        try
        {
            pidfd = (int)libc.syscall(SYS_PIDFD_OPEN, pid, 0L);
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return false;
            }
            throw new ZoneException("pidfd_open(" + pid + ")", ex.getErrorCode(), ex);
        }
        try
        {
            if (!stillOurs.test(pid))
            {
                return false;
            }
            libc.syscall(SYS_PIDFD_SEND_SIGNAL, (long)pidfd, (long)SIGKILL, 0L, 0L);
            return true;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return false;
            }
            throw new ZoneException("pidfd_send_signal(" + pid + ", SIGKILL)", ex.getErrorCode(), ex);
        }
        finally
        {
            LinuxLibC.closeQuietly(libc, pidfd);
        }
    }

    /**
     * {@code kill(-pgid, SIGKILL)}: every member of a process group at once. There is no pidfd for a group, so
     * the caller must know that {@code pgid} is still its group: for example because it holds a pidfd on the
     * group's leader that has not exited, which keeps the number from being reused.
     *
     * @return true if the group existed, false if it had no member left (ESRCH).
     * @throws ZoneException on any other error, or for a pgid below 2 (which would mean "everyone").
     */
    public static boolean killGroup(final long pgid)
    {
        if (pgid < 2)
        {
            throw new ZoneException("refusing to signal process group " + pgid);
        }
        try
        {
            LinuxLibC.instance().kill((int)-pgid, SIGKILL);
            return true;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == ESRCH)
            {
                return false;
            }
            throw new ZoneException("kill(-" + pgid + ", SIGKILL)", ex.getErrorCode(), ex);
        }
    }
}
