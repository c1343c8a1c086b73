package sledagent.agent.vmm;

import java.util.List;
import sledagent.api.VmmStateRequested;
import sledagent.api.propolis.InstanceStateMonitorResponse;

/**
 * Everything that can happen to a VMM. Requests come from the HTTP API; the rest are results of work the
 * actor started (start sequence, Propolis calls, teardown), observations (monitor, process exit), the stop
 * deadline, and the publisher.
 */
public sealed interface Event
{
    /**
     * What kind of event this is: dispatch is a switch expression over it, so a kind that is not handled does not
     * compile (release 17 has no pattern matching for switch).
     */
    enum Kind
    {
        RUN_REQUESTED,
        STOP_REQUESTED,
        REBOOT_REQUESTED,
        MIGRATION_TARGET_REQUESTED,
        UNREGISTER_REQUESTED,
        FORCE_TERMINATE_REQUESTED,
        VMM_STARTED,
        START_FAILED,
        PROPOLIS_OBSERVED,
        LAST_LOOK,
        PROPOLIS_LOST,
        PROCESS_EXITED,
        STOP_GRACE_EXPIRED,
        ZONE_TORN_DOWN,
        ZONE_TEARDOWN_FAILED,
        RECOVERED,
        FAULTED,
        PUBLISH_SETTLED
    }

    /** This event's kind. */
    Kind kind();

    // ---- requests (answered with a Reply) ----

    /** {@code PUT /state} with {@code running}. */
    record RunRequested() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.RUN_REQUESTED;
        }
    }

    /** {@code PUT /state} with {@code stopped}. */
    record StopRequested() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.STOP_REQUESTED;
        }
    }

    /** {@code PUT /state} with {@code reboot}. */
    record RebootRequested() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.REBOOT_REQUESTED;
        }
    }

    /** {@code PUT /state} with {@code migration_target}. */
    record MigrationTargetRequested(VmmStateRequested.InstanceMigrationTargetParams params) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.MIGRATION_TARGET_REQUESTED;
        }
    }

    /** {@code DELETE /vmms/{id}}: Nexus takes the VMM back. */
    record UnregisterRequested() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.UNREGISTER_REQUESTED;
        }
    }

    /** {@code POST /vmms/{id}/force-terminate}: kill now, whatever the state. */
    record ForceTerminateRequested() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.FORCE_TERMINATE_REQUESTED;
        }
    }

    // ---- results and observations ----

    /** The start sequence finished: Propolis is ensured and Run was accepted. */
    record VmmStarted() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.VMM_STARTED;
        }
    }

    /** The start sequence failed (spawn, Propolis never answered, ensure or Run refused). */
    record StartFailed(String reason) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.START_FAILED;
        }
    }

    /** The monitor saw a Propolis state (Propolis's own generation in {@code observation.gen}). */
    record PropolisObserved(InstanceStateMonitorResponse observation) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.PROPOLIS_OBSERVED;
        }
    }

    /**
     * The bounded last look at Propolis taken just before its zone is killed: only its migration statuses are
     * used, so that a migration that completed is reported completed, not failed.
     */
    record LastLook(InstanceStateMonitorResponse observation) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.LAST_LOOK;
        }
    }

    /** Propolis answered {@code NoInstance}: it lost the VM (it restarted or ran down). */
    record PropolisLost(String reason) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.PROPOLIS_LOST;
        }
    }

    /** The VMM's main process exited (seen from its pidfd). */
    record ProcessExited() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.PROCESS_EXITED;
        }
    }

    /** The stop grace period ran out. */
    record StopGraceExpired() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.STOP_GRACE_EXPIRED;
        }
    }

    /** The zone is empty and removed. */
    record ZoneTornDown() implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.ZONE_TORN_DOWN;
        }
    }

    /** The zone would not empty or could not be removed; it will be retried. */
    record ZoneTeardownFailed(String reason) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.ZONE_TEARDOWN_FAILED;
        }
    }

    /**
     * The agent restarted and found this VMM's record; {@code processAlive} says whether its zone's main process
     * is still the one it started, alive; {@code kills} are the stops, force-terminates and unregisters that the
     * previous run carried out without being able to write the record (the kill journal), oldest first.
     */
    record Recovered(boolean processAlive, List<KillIntent> kills) implements Event
    {
        public Recovered
        {
            kills = List.copyOf(kills);
        }

        public Recovered(final boolean processAlive)
        {
            this(processAlive, List.of());
        }

        @Override
        public Kind kind()
        {
            return Kind.RECOVERED;
        }
    }

    /**
     * Handling an event of this VMM threw: a bug, or a state the agent cannot represent. The VMM is ended the
     * way a force-terminate ends it, never left unstoppable.
     */
    record Faulted(String reason) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.FAULTED;
        }
    }

    /** The publisher is done with generation {@code gen}: acknowledged, or refused for good. */
    record PublishSettled(long gen) implements Event
    {
        @Override
        public Kind kind()
        {
            return Kind.PUBLISH_SETTLED;
        }
    }
}
