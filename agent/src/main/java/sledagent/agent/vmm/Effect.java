package sledagent.agent.vmm;

import java.time.Instant;
import java.util.Objects;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.PropolisStateRequested;

/** Work the actor does on the lifecycle's behalf. None of it runs on the actor's thread for long. */
public sealed interface Effect
{
    /**
     * Create the zone, spawn the VMM, wait until it answers, ensure (from the spec, or as a migration target
     * pulling from {@code migrationSourceAddr} when that is not null), then Run (spec only); ends in VmmStarted
     * or StartFailed.
     */
    record StartVmm(String migrationSourceAddr) implements Effect
    {
    }

    /**
     * After an agent restart, a start the old agent left half-done whose process is alive: wait until its
     * Propolis answers, ensure it if it is not yet, Run it (not a migration target), all within the start timeout;
     * ends in VmmStarted or StartFailed like {@link StartVmm}.
     */
    record ResumeStart() implements Effect
    {
    }

    /** Send a state request to Propolis; a NoInstance answer comes back as PropolisLost. */
    record SendPropolisState(PropolisStateRequested request) implements Effect
    {
    }

    /** Ask the monitor for the first Propolis state with generation at least {@code gen}. */
    record WatchPropolis(long gen) implements Effect
    {
    }

    /**
     * Arm the stop grace deadline to fire at {@code at} (wall clock; the lifecycle decided it once, when the stop
     * was accepted, and a restarted agent arms it again at the same instant).
     */
    record ArmStopDeadline(Instant at) implements Effect
    {
        public ArmStopDeadline
        {
            Objects.requireNonNull(at, "at");
        }
    }

    /** Cancel the stop grace deadline, if armed. */
    record CancelStopDeadline() implements Effect
    {
    }

    /**
     * Stop everything in flight for the VMM, take a last look at Propolis (at most 100 ms, when
     * {@code lastLook}; the answer comes back as {@link Event.LastLook}), kill its zone, wait until empty,
     * remove it.
     */
    record TearDownZone(boolean lastLook) implements Effect
    {
    }

    /**
     * The kill of this step may go ahead of its record's write: keep it in the kill journal (a slot written, not
     * synced, so it outlives the agent's death), queue the record's write, and carry out the kill at once. Only
     * for steps that publish and answer nothing themselves (force-terminate, unregister, the grace expiry): what is
     * published or answered later waits until the record (or, if it cannot be written, the synced journal) holds
     * the kill. If the journal cannot take it, the record is written first, as for any step.
     */
    record JournalKill(KillIntent.Kind kind) implements Effect
    {
        public JournalKill
        {
            Objects.requireNonNull(kind, "kind");
        }
    }

    /**
     * The teardown of this step may go ahead of its record's write, with no journal: the VMM ended by itself
     * (Propolis reported it failed, or its process exited), and a restart from the record before this step, finding
     * the process gone, halts the same way with the same terminal state. Only for steps that publish and answer
     * nothing themselves; what is published later waits for the write.
     */
    record TearDownAhead() implements Effect
    {
    }

    /**
     * This step's record is written behind its effects, not before them: the record before it (which they wait
     * for) already makes a restart repeat them exactly (the same state with the same generation).
     */
    record WriteBehind() implements Effect
    {
    }

    /** Try the teardown again after a back-off. */
    record RetryTearDown() implements Effect
    {
    }

    /** Hand this state to the publisher (newest wins). */
    record Publish(SledVmmState state) implements Effect
    {
    }

    /** Answer the deferred unregister and force-terminate requests with the final state. */
    record AnswerDeferred(SledVmmState finalState) implements Effect
    {
    }

    /** Remove the VMM from the table: from now on it is 404. */
    record RemoveFromTable() implements Effect
    {
    }
}
