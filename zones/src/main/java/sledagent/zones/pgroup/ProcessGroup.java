package sledagent.zones.pgroup;

import java.util.List;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.ProcStat;
import sledagent.zones.linux.ProcessSignals;

/**
 * One spawned main process and the session and process group it leads (both numbered by its pid). The
 * backend holds the leader by its own pidfd; members are found by scanning {@code /proc}.
 *
 * <p>Pid reuse: while the leader has not exited, its pid (the group's id) cannot be reused, so
 * {@code kill(-pgid)} is safe. After it exited, members keep the number reserved; once the last one is gone the
 * number may be reused, and a process with the leader's pid but another start time marks the group as gone
 * (stolen), never as ours.
 */
final class ProcessGroup
{
    private final long leaderPid;
    private final long leaderStartTicks;
    private final ZoneProcess leader;

    /**
     * @param leader           the backend's own handle on the main process (not the one given to the caller,
     *                         which the caller may close).
     * @param leaderStartTicks the leader's start time from {@code /proc}, read while its pidfd was open.
     */
    ProcessGroup(final ZoneProcess leader, final long leaderStartTicks)
    {
        this.leader = leader;
        this.leaderPid = leader.pid();
        this.leaderStartTicks = leaderStartTicks;
    }

    long leaderPid()
    {
        return leaderPid;
    }

    /** True if {@code stat} is a live process in this group or session (and not a stranger on a reused pid). */
    boolean isLiveMember(final ProcStat stat)
    {
        if (stat.isZombie() || (stat.pgrp() != leaderPid && stat.session() != leaderPid))
        {
            return false;
        }
        return stat.pid() != leaderPid || stat.startTicks() == leaderStartTicks;
    }

    /** True if the leader's pid now names another process: the group ended and its number was reused. */
    boolean isStolen(final List<ProcStat> snapshot)
    {
        for (final ProcStat stat : snapshot)
        {
            if (stat.pid() == leaderPid && stat.startTicks() != leaderStartTicks)
            {
                return true;
            }
        }
        return false;
    }

    /** True once the leader has exited and no live member is left in {@code snapshot} (or the group was stolen). */
    boolean isEmpty(final List<ProcStat> snapshot)
    {
        if (leader.isAlive())
        {
            return false;
        }
        if (isStolen(snapshot))
        {
            return true;
        }
        for (final ProcStat stat : snapshot)
        {
            if (isLiveMember(stat))
            {
                return false;
            }
        }
        return true;
    }

    /**
     * SIGKILLs the whole group ({@code kill(-pgid)}) while the leader is known not to have exited, then the leader
     * through its pidfd (which, with a PID namespace, takes the namespace down).
     */
    void killLeaderAndGroup()
    {
        if (leader.isAlive())
        {
            ProcessSignals.killGroup(leaderPid);
        }
        leader.signal(ProcessSignals.SIGKILL);
    }

    /**
     * SIGKILLs, one by one through pidfds, every live member in {@code snapshot}: the ones left after the leader
     * has gone, and the ones that moved to a process group of their own inside the session.
     *
     * @return how many were signalled.
     */
    int killMembers(final List<ProcStat> snapshot)
    {
        if (isStolen(snapshot))
        {
            return 0;
        }
        int signalled = 0;
        for (final ProcStat stat : snapshot)
        {
            if (isLiveMember(stat) &&
                ProcessSignals.killIf(stat.pid(), pid -> ProcStat.read(pid).map(this::isLiveMember).orElse(false)))
            {
                signalled++;
            }
        }
        return signalled;
    }

    /** Releases the backend's pidfd on the leader. */
    void close()
    {
        leader.close();
    }

    @Override
    public String toString()
    {
        return "ProcessGroup[" + leaderPid + (leader.isAlive() ? "]" : ", leader exited]");
    }
}
