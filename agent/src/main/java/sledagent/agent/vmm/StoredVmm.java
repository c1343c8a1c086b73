package sledagent.agent.vmm;

import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.SledVmmState;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * What survives a restart of the agent for one VMM: its lifecycle record, the stop deadline if one is armed (as
 * a wall-clock instant, so that it fires at its original time after a restart), and the identity of its main
 * process (pid plus start time in clock ticks, so a recycled pid is never adopted).
 *
 * @param version          format version of this file
 * @param propolisId       the VMM's id
 * @param registration     the register body as Nexus sent it
 * @param phase            lifecycle phase
 * @param current          newest state (published, or being published)
 * @param owner            who drives the published state
 * @param stopRequested    a stop was accepted
 * @param pendingTerminal  the terminal state decided while halting, or null
 * @param lastPropolisState newest Propolis state seen, or null
 * @param stopDeadline     when the armed stop deadline fires, or null
 * @param vmmPid           host pid of the zone's main process, or 0
 * @param vmmStartTicks    that process's start time (field 22 of /proc/PID/stat), or 0
 * @param ackedGen         the highest generation Nexus settled (0 in files that predate it: re-sent once)
 * @param stopGraceMs      the VMM's stop grace (0 in files that predate it: the agent's setting is used)
 */
public record StoredVmm(
    int version,
    UUID propolisId,
    InstanceEnsureBody registration,
    Phase phase,
    SledVmmState current,
    Owner owner,
    boolean stopRequested,
    VmmState pendingTerminal,
    PropolisInstanceState lastPropolisState,
    Instant stopDeadline,
    long vmmPid,
    long vmmStartTicks,
    long ackedGen,
    long stopGraceMs)
{
    public static final int VERSION = 1;

    public StoredVmm
    {
        Objects.requireNonNull(propolisId, "propolis_id");
        Objects.requireNonNull(registration, "registration");
        Objects.requireNonNull(phase, "phase");
        Objects.requireNonNull(current, "current");
        Objects.requireNonNull(owner, "owner");
    }

    /** What to store for {@code record}, whose zone's main process is {@code vmmPid} (0: none yet). */
    public static StoredVmm of(final VmmRecord record, final long vmmPid, final long vmmStartTicks)
    {
        return new StoredVmm(VERSION, record.propolisId(), record.registration(), record.phase(), record.current(),
            record.owner(), record.stopRequested(), record.pendingTerminal(), record.lastPropolisState(),
            record.stopDeadlineAt(), vmmPid, vmmStartTicks, record.ackedGen(), record.stopGraceMs());
    }

    /** The lifecycle record, as it was when stored; {@code defaultStopGraceMs} for files that predate the field. */
    public VmmRecord record(final long defaultStopGraceMs)
    {
        return new VmmRecord(propolisId, registration, phase, current, owner, stopRequested, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs > 0 ? stopGraceMs : defaultStopGraceMs, stopDeadline);
    }
}
