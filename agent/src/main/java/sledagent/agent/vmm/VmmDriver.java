package sledagent.agent.vmm;

import java.util.UUID;
import java.util.function.Consumer;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.zones.ZoneProcess;

/**
 * The slow and outside-world work of the {@link Effect}s, done off the actor. Every method returns at once;
 * results come back as {@link Event}s through {@code post}. Every wait inside has a deadline.
 */
public interface VmmDriver
{
    /**
     * Zone, spawn, wait until Propolis answers, ensure, Run. Hands the spawned process to {@code onSpawned}
     * as soon as it exists, then posts {@link Event.VmmStarted} or {@link Event.StartFailed}. With a
     * {@code migrationSourceAddr}, Propolis is ensured as a migration target pulling from there, and not told
     * to Run (it runs once the migration completes).
     */
    Cancellable start(UUID propolisId, InstanceEnsureBody registration, String migrationSourceAddr,
        Consumer<ZoneProcess> onSpawned, Consumer<Event> post);

    /**
     * After an agent restart, finishes a start the old agent left half-done with the zone's live {@code process}:
     * waits until its Propolis answers, ensures it unless it already has an instance, and Runs it (unless the
     * registration is a migration target, which cannot be resumed before its ensure: that is a StartFailed); all
     * within the start timeout. Posts {@link Event.VmmStarted} or {@link Event.StartFailed}.
     */
    Cancellable resumeStart(UUID propolisId, InstanceEnsureBody registration, ZoneProcess process,
        Consumer<Event> post);

    /** Runs {@code task} (which only enqueues) after {@code delayMs}, on the shared timer. */
    Cancellable later(long delayMs, Runnable task);

    /** Sends a state request to Propolis; posts {@link Event.PropolisLost} if Propolis lost the VM. */
    void sendState(String propolisAddr, PropolisStateRequested request, Consumer<Event> post);

    /** Posts the first {@link Event.PropolisObserved} with Propolis gen at least {@code gen}, retrying. */
    Cancellable watch(String propolisAddr, long gen, Consumer<Event> post);

    /** How long a stop may take before the zone is killed. */
    long stopGraceMs();

    /** Posts {@link Event.StopGraceExpired} after {@code delayMs} (0 or less: at once). */
    Cancellable armStopDeadline(long delayMs, Consumer<Event> post);

    /**
     * Waits (bounded) for {@code startJob} to stop; if {@code lastLookAddr} is not null, asks that Propolis for
     * its newest state (at most 100 ms) and posts it as {@link Event.LastLook}; kills the zone, waits until it
     * is empty, removes it, closes {@code process} (may be null); posts {@link Event.ZoneTornDown} or
     * {@link Event.ZoneTeardownFailed}. {@code attempt} is 0 for the first try; later tries wait a growing
     * back-off first.
     */
    void tearDown(UUID propolisId, int attempt, String lastLookAddr, Cancellable startJob, ZoneProcess process,
        Consumer<Event> post);

    /** Publishes a state upstream (newest wins); posts {@link Event.PublishSettled} when done with it. */
    void publish(UUID propolisId, SledVmmState state, Consumer<Event> post);

    /** The VMM is gone from the table: drop anything still queued for it. */
    void forget(UUID propolisId);
}
