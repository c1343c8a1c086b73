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
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;

/** Shared builders for the lifecycle and actor tests. */
final class LifecycleFixtures
{
    static final String PROPOLIS_ADDR = "127.0.0.1:1234";
    static final long REGISTERED_GEN = 5;

    private LifecycleFixtures()
    {
    }

    /** A register body parsed from the JSON Nexus would send, registered at {@code gen} in state starting. */
    static InstanceEnsureBody body(final UUID instanceId, final long gen)
    {
        try
        {
            return Json.mapper().readValue(ExampleBodies.ensureBody(instanceId, PROPOLIS_ADDR, gen),
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

    static Event.MigrationTargetRequested migrationTarget()
    {
        return new Event.MigrationTargetRequested(
            new VmmStateRequested.InstanceMigrationTargetParams("127.0.0.1:4321"));
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
