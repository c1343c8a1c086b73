package sledagent.agent.vmm;

import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmRuntimeState;
import sledagent.api.VmmState;
import sledagent.api.propolis.PropolisInstanceState;

/**
 * Everything the lifecycle knows about one VMM. Immutable: {@link VmmLifecycle} makes the next one.
 *
 * @param propolisId        the VMM's id (the table key)
 * @param registration      the register body as Nexus sent it
 * @param phase             where the VMM is in its life
 * @param current           the newest state: what {@code GET /state} shows and what was last published
 * @param owner             who drives the published state
 * @param stopRequested     a stop was accepted; the grace deadline is armed (never re-armed)
 * @param pendingTerminal   while HALTING: the terminal state to publish once the zone is gone
 * @param lastPropolisState the newest Propolis state the monitor saw, or null
 * @param ackedGen          the highest generation Nexus has settled (acknowledged or refused for good); a
 *                          restarted agent re-sends the current state if it is newer
 * @param stopGraceMs       how long a stop may take before the zone is killed (the agent's setting when the VMM
 *                          was registered)
 * @param stopDeadlineAt    when the grace of the accepted stop runs out (wall clock, so that a restarted agent keeps
 *                          it), or null: decided once by the lifecycle, when the first stop is accepted
 */
public record VmmRecord(
    UUID propolisId,
    InstanceEnsureBody registration,
    Phase phase,
    SledVmmState current,
    Owner owner,
    boolean stopRequested,
    VmmState pendingTerminal,
    PropolisInstanceState lastPropolisState,
    long ackedGen,
    long stopGraceMs,
    Instant stopDeadlineAt)
{
    public VmmRecord
    {
        Objects.requireNonNull(propolisId, "propolisId");
        Objects.requireNonNull(registration, "registration");
        Objects.requireNonNull(phase, "phase");
        Objects.requireNonNull(current, "current");
        Objects.requireNonNull(owner, "owner");
    }

    /**
     * The record of a freshly registered VMM: its state is the registered runtime as given (the first
     * published generation will be one above it), with a pending inbound migration if it is a target.
     */
    public static VmmRecord registered(final UUID propolisId, final InstanceEnsureBody body, final Instant now,
        final long stopGraceMs)
    {
        final MigrationRuntimeState migrationIn = body.migrationId() == null
            ? null
            : new MigrationRuntimeState(body.migrationId(), MigrationState.PENDING, 1, now);
        final SledVmmState state = new SledVmmState(body.vmmRuntime(), migrationIn, null);
        return new VmmRecord(propolisId, body, Phase.REGISTERED, state, Owner.AGENT, false, null, null,
            body.vmmRuntime().gen(), stopGraceMs, null);
    }

    public VmmState vmmState()
    {
        return current.vmmState().state();
    }

    public long gen()
    {
        return current.vmmState().gen();
    }

    VmmRecord withPhase(final Phase next)
    {
        return new VmmRecord(propolisId, registration, next, current, owner, stopRequested, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    /** Moves the published VMM state; the generation rises by one only if the state changes. */
    VmmRecord withVmmState(final VmmState state, final Instant now)
    {
        if (state == vmmState())
        {
            return this;
        }
        final SledVmmState next = new SledVmmState(new VmmRuntimeState(state, nextGen(gen()), now),
            current.migrationIn(), current.migrationOut());
        return new VmmRecord(propolisId, registration, phase, next, owner, stopRequested, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    /**
     * Moves the VMM state and both migration sides at once; the VMM generation rises by one if anything changed,
     * and each migration side's own generation rises by one if that side changed.
     */
    VmmRecord withStates(final VmmState state, final MigrationRuntimeState migrationIn,
        final MigrationRuntimeState migrationOut, final Instant now)
    {
        if (state == vmmState() && Objects.equals(migrationIn, current.migrationIn())
            && Objects.equals(migrationOut, current.migrationOut()))
        {
            return this;
        }
        final SledVmmState next = new SledVmmState(new VmmRuntimeState(state, nextGen(gen()), now), migrationIn,
            migrationOut);
        return new VmmRecord(propolisId, registration, phase, next, owner, stopRequested, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    /**
     * The terminal state: destroyed or failed. A migration that had not finished cannot finish now, so it becomes
     * failed (with its own next generation); one already completed stays completed.
     */
    VmmRecord withTerminalState(final VmmState terminal, final Instant now)
    {
        return withStates(terminal, failIfUnfinished(current.migrationIn(), now),
            failIfUnfinished(current.migrationOut(), now), now);
    }

    private static MigrationRuntimeState failIfUnfinished(final MigrationRuntimeState migration, final Instant now)
    {
        if (migration == null || migration.state().isTerminal())
        {
            return migration;
        }
        return new MigrationRuntimeState(migration.migrationId(), MigrationState.FAILED, nextGen(migration.gen()), now);
    }

    VmmRecord withAckedGen(final long gen)
    {
        return new VmmRecord(propolisId, registration, phase, current, owner, stopRequested, pendingTerminal,
            lastPropolisState, gen, stopGraceMs, stopDeadlineAt);
    }

    VmmRecord withOwner(final Owner next)
    {
        return new VmmRecord(propolisId, registration, phase, current, next, stopRequested, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    /** A stop was accepted: its grace runs out at {@code deadlineAt}. */
    VmmRecord withStopRequested(final Instant deadlineAt)
    {
        return new VmmRecord(propolisId, registration, phase, current, owner, true, pendingTerminal,
            lastPropolisState, ackedGen, stopGraceMs, deadlineAt);
    }

    /** The stop deadline is done with (the VMM is halting). */
    VmmRecord withoutStopDeadline()
    {
        return stopDeadlineAt == null ? this : new VmmRecord(propolisId, registration, phase, current, owner,
            stopRequested, pendingTerminal, lastPropolisState, ackedGen, stopGraceMs, null);
    }

    VmmRecord halting(final VmmState terminal)
    {
        return new VmmRecord(propolisId, registration, Phase.HALTING, current, owner, stopRequested, terminal,
            lastPropolisState, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    VmmRecord withPropolisState(final PropolisInstanceState state)
    {
        return new VmmRecord(propolisId, registration, phase, current, owner, stopRequested, pendingTerminal,
            state, ackedGen, stopGraceMs, stopDeadlineAt);
    }

    /**
     * {@code gen + 1}; throws if it would not fit in a long (registers are refused long before: the actor ends a
     * VMM whose event throws, so this is a backstop, never a wrap-around to a negative generation).
     */
    static long nextGen(final long gen)
    {
        return Math.addExact(gen, 1);
    }
}
