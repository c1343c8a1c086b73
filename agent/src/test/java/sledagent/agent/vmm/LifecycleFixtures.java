package sledagent.agent.vmm;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import sledagent.agent.demo.ExampleBodies;
import sledagent.api.InstanceEnsureBody;
import sledagent.api.Json;
import sledagent.api.VmmStateRequested;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/** Shared builders for the lifecycle and actor tests. */
final class LifecycleFixtures
{
    static final String PROPOLIS_ADDR = "127.0.0.1:1234";
    static final long REGISTERED_GEN = 5;
    /** The source Propolis address {@link #migrationTarget()} names. */
    static final String MIGRATION_SOURCE_ADDR = "127.0.0.1:4321";

    private LifecycleFixtures()
    {
    }

    /** A register body parsed from the JSON Nexus would send, registered at {@code gen} in state starting. */
    static InstanceEnsureBody body(final UUID instanceId, final long gen)
    {
        return body(instanceId, gen, null);
    }

    /**
     * As {@link #body(UUID, long)}; with a {@code migrationId} it registers a migration target (state migrating,
     * as Nexus registers one).
     */
    static InstanceEnsureBody body(final UUID instanceId, final long gen, final UUID migrationId)
    {
        try
        {
            return Json.mapper().readValue(ExampleBodies.ensureBody(instanceId, PROPOLIS_ADDR, gen, migrationId),
                InstanceEnsureBody.class);
        }
        catch (final JsonProcessingException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    static Event.PropolisObserved observed(final long propolisGen, final PropolisInstanceState state)
    {
        return new Event.PropolisObserved(
            new InstanceStateMonitorResponse(propolisGen, state, InstanceMigrateStatusResponse.NONE));
    }

    /** A Propolis observation that also reports migration statuses ({@code in}, {@code out} may be null). */
    static Event.PropolisObserved observed(final long propolisGen, final PropolisInstanceState state,
        final InstanceMigrationStatus in, final InstanceMigrationStatus out)
    {
        return new Event.PropolisObserved(new InstanceStateMonitorResponse(propolisGen, state,
            new InstanceMigrateStatusResponse(in, out)));
    }

    /** The last look's answer: Propolis still running, with these migration statuses (either may be null). */
    static Event.LastLook lastLook(final InstanceMigrationStatus in, final InstanceMigrationStatus out)
    {
        return new Event.LastLook(new InstanceStateMonitorResponse(99, PropolisInstanceState.Running,
            new InstanceMigrateStatusResponse(in, out)));
    }

    static InstanceMigrationStatus status(final UUID migrationId, final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatus(migrationId, phase);
    }

    static Event.MigrationTargetRequested migrationTarget()
    {
        return new Event.MigrationTargetRequested(
            new VmmStateRequested.InstanceMigrationTargetParams(MIGRATION_SOURCE_ADDR));
    }

    /** The request events (the ones that get a reply). */
    static List<Event> requests()
    {
        return List.of(new Event.RunRequested(), new Event.StopRequested(), new Event.RebootRequested(),
            migrationTarget(), new Event.UnregisterRequested(), new Event.ForceTerminateRequested());
    }

    /** One of every event type (every Propolis state as an observation), for "nothing happens" checks. */
    static List<Event> everyEvent(final long propolisGen, final long settledGen)
    {
        final List<Event> events = new ArrayList<>(requests());
        events.add(new Event.VmmStarted());
        events.add(new Event.StartFailed("late"));
        for (final PropolisInstanceState state : PropolisInstanceState.values())
        {
            events.add(observed(propolisGen, state));
        }
        events.add(new Event.PropolisLost("late"));
        events.add(new Event.ProcessExited());
        events.add(new Event.StopGraceExpired());
        events.add(new Event.ZoneTornDown());
        events.add(new Event.ZoneTeardownFailed("late"));
        events.add(new Event.PublishSettled(settledGen));
        return events;
    }

    static boolean isRequest(final Event event)
    {
        return event instanceof Event.RunRequested || event instanceof Event.StopRequested
            || event instanceof Event.RebootRequested || event instanceof Event.MigrationTargetRequested
            || event instanceof Event.UnregisterRequested || event instanceof Event.ForceTerminateRequested;
    }
}
