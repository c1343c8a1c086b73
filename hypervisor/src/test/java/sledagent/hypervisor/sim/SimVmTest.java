package sledagent.hypervisor.sim;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMetadata;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceProperties;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.api.propolis.PropolisStateRequested;
import sledagent.hypervisor.server.PropolisRefusal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;
import static sledagent.api.propolis.PropolisInstanceState.Creating;
import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;
import static sledagent.api.propolis.PropolisStateRequested.Reboot;
import static sledagent.api.propolis.PropolisStateRequested.Run;
import static sledagent.api.propolis.PropolisStateRequested.Stop;

/** The simulated VM's rules, stepped by hand: no threads, no clocks. */
class SimVmTest
{
    private final ArrayDeque<Runnable> pendingSteps = new ArrayDeque<>();
    private final SimVm vm = new SimVm((delayMs, task) -> pendingSteps.add(task), 5);
    private final ExecutorService waiters = Executors.newCachedThreadPool();

    @AfterEach
    void tearDown()
    {
        waiters.shutdownNow();
    }

    @Test
    void shouldAnswerNoInstanceToEverythingBeforeEnsure()
    {
        assertRefused(vm::instance, 424, "NoInstance");
        assertRefused(() -> vm.request(Run), 424, "NoInstance");
        assertRefused(() -> vm.awaitGeneration(0), 424, "NoInstance");
    }

    @Test
    void shouldCreateTheVmAtGenerationOne() throws Exception
    {
        assertThat(vm.ensure(ensureRequest("vm")).migrate()).isNull();

        assertThat(vm.latest().gen()).isEqualTo(1);
        assertThat(vm.latest().state()).isEqualTo(Creating);
        assertThat(vm.instance().instance().state()).isEqualTo(Creating);
        assertThat(vm.instance().instance().properties()).isEqualTo(ensureRequest("vm").properties());
    }

    @Test
    void shouldAcceptAnIdenticalEnsureAndRefuseAConflictingOne() throws Exception
    {
        vm.ensure(ensureRequest("vm"));

        assertThat(vm.ensure(ensureRequest("vm")).migrate()).isNull();
        assertRefused(() -> vm.ensure(ensureRequest("other")), 409, "AlreadyInitialized");
        assertThat(vm.latest().gen()).isEqualTo(1);
    }

    @Test
    void shouldRunThroughStartingToRunning() throws Exception
    {
        vm.ensure(ensureRequest("vm"));

        vm.request(Run);

        assertLatest(2, Starting);
        stepAll();
        assertLatest(3, Running);
    }

    @Test
    void shouldStopThroughStoppingAndStoppedToDestroyed() throws Exception
    {
        running();

        vm.request(Stop);

        assertLatest(4, Stopping);
        stepOnce();
        assertLatest(5, Stopped);
        stepOnce();
        assertLatest(6, Destroyed);
        assertThat(pendingSteps).isEmpty();
    }

    @Test
    void shouldStopAVmThatIsStillStartingWithoutEverRunningIt() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        vm.request(Run);

        vm.request(Stop);
        stepAll();

        // gen 2 Starting, then Stopped and Destroyed; the superseded "Running" step never publishes.
        assertLatest(4, Destroyed);
    }

    @Test
    void shouldStopAVmThatWasNeverStarted() throws Exception
    {
        vm.ensure(ensureRequest("vm"));

        vm.request(Stop);

        assertLatest(2, Stopped);
        stepAll();
        assertLatest(3, Destroyed);
    }

    @Test
    void shouldRebootThroughRebootingToRunning() throws Exception
    {
        running();

        vm.request(Reboot);

        assertLatest(4, Rebooting);
        vm.request(Reboot);
        assertLatest(4, Rebooting);
        stepAll();
        assertLatest(5, Running);
    }

    @Test
    void shouldIgnoreRunWhileStartingOrRunning() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        vm.request(Run);
        vm.request(Run);
        assertLatest(2, Starting);
        stepAll();

        vm.request(Run);

        assertLatest(3, Running);
        assertThat(pendingSteps).isEmpty();
    }

    @Test
    void shouldDenyRebootBeforeTheVmRuns() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        assertForbidden(Reboot, "Operation requires an active instance");

        vm.request(Run);
        assertForbidden(Reboot, "Instance is currently starting");
    }

    @Test
    void shouldDenyRunAndRebootOnceAStopIsUnderWayAndIgnoreAnotherStop() throws Exception
    {
        running();
        vm.request(Stop);

        assertForbidden(Run, "Instance is preparing to stop");
        assertForbidden(Reboot, "Instance is preparing to stop");
        vm.request(Stop);
        assertLatest(4, Stopping);

        stepAll();
        assertForbidden(Run, "Instance has already halted");
        assertForbidden(Reboot, "Instance has already halted");
        vm.request(Stop);
        assertLatest(6, Destroyed);
    }

    @Test
    void shouldHangInStoppingWhenAskedTo() throws Exception
    {
        running();
        vm.fault(SimFault.HANG_STOP);

        vm.request(Stop);
        stepAll();

        assertLatest(4, Stopping);
        vm.request(Stop);
        assertLatest(4, Stopping);
    }

    @Test
    void shouldFailToStartWhenAskedTo() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        vm.fault(SimFault.FAIL_START);

        vm.request(Run);
        assertLatest(2, Starting);
        stepAll();

        assertLatest(3, Failed);
        assertForbidden(Run, "Instance failed to start or halted due to a failure");
        vm.request(Stop);
        assertLatest(3, Failed);
    }

    @Test
    void shouldBehaveAgainOnceTheFaultIsCleared() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        vm.fault(SimFault.FAIL_START);
        vm.fault(SimFault.NONE);

        vm.request(Run);
        stepAll();

        assertLatest(3, Running);
    }

    @Test
    void shouldAnswerAMonitorForAPastGenerationAtOnceWithTheNewestState() throws Exception
    {
        running();

        assertThat(vm.awaitGeneration(0)).isEqualTo(vm.latest());
        assertThat(vm.awaitGeneration(2).state()).isEqualTo(Running);
        assertThat(vm.awaitGeneration(3).gen()).isEqualTo(3);
    }

    @Test
    void shouldHoldAMonitorUntilItsGenerationIsPublished() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        final CompletableFuture<InstanceStateMonitorResponse> poll = waitFor(2);

        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2)).until(() -> !poll.isDone());
        vm.request(Run);

        assertThat(poll.get(5, TimeUnit.SECONDS).gen()).isEqualTo(2);
    }

    @Test
    void shouldEndAMonitorWith410OnceNoGenerationCanFollow() throws Exception
    {
        running();
        final CompletableFuture<InstanceStateMonitorResponse> poll = waitFor(7);
        vm.request(Stop);
        stepAll();

        final Throwable failure = catchThrowableOfType(java.util.concurrent.ExecutionException.class,
            () -> poll.get(5, TimeUnit.SECONDS)).getCause();
        assertThat(failure).isInstanceOf(PropolisRefusal.class);
        assertThat(((PropolisRefusal) failure).statusCode()).isEqualTo(410);
        assertThat(((PropolisRefusal) failure).errorCode()).isEqualTo("NoInstance");
        assertRefused(() -> vm.awaitGeneration(7), 410, "NoInstance");
    }

    @Test
    void shouldFailAMigrationTargetThatCannotReachItsSource() throws Exception
    {
        final UUID migrationId = UUID.fromString("0f8b1d5e-3c3a-4e79-9a0a-6a2b3a5e7d21");
        final InstanceEnsureRequest request = new InstanceEnsureRequest(ensureRequest("vm").properties(),
            new InstanceInitializationMethod.MigrationTarget(new InstanceInitializationMethod.MigrationTargetValue(
                migrationId, Map.of(), "[fd00:1122:3344:101::1]:12400")));
        final java.util.List<InstanceStateMonitorResponse> published = new java.util.ArrayList<>();
        vm.observe(published::add);
        vm.logTo(message -> { });

        assertThat(vm.ensure(request).migrate().migrationId()).isEqualTo(migrationId);

        // gen 1 Migrating (Sync) is published before the ensure is answered; the start call then fails.
        assertThat(published).hasSize(2);
        assertThat(published.get(0).gen()).isEqualTo(1);
        assertThat(published.get(0).state()).isEqualTo(Migrating);
        assertThat(published.get(0).migration().migrationIn())
            .isEqualTo(new InstanceMigrationStatus(migrationId, PropolisMigrationState.Sync));
        assertLatest(2, Failed);
        assertThat(vm.latest().migration().migrationIn())
            .isEqualTo(new InstanceMigrationStatus(migrationId, PropolisMigrationState.Error));
        assertThat(vm.latest().migration().migrationOut()).isNull();
        assertForbidden(Run, "Instance failed to start or halted due to a failure");
    }

    static InstanceEnsureRequest ensureRequest(final String name)
    {
        final ObjectNode spec = Json.mapper().createObjectNode();
        spec.putObject("board").put("cpus", 1).put("memory_mb", 512);
        return new InstanceEnsureRequest(
            new InstanceProperties(new UUID(7, 7), name, "", new InstanceMetadata(new UUID(1, 1), new UUID(1, 2),
                new UUID(1, 3), "gimlet", 2, "BRM42220016")),
            InstanceInitializationMethod.Spec.of(spec));
    }

    private void running() throws Exception
    {
        vm.ensure(ensureRequest("vm"));
        vm.request(Run);
        stepAll();
        assertLatest(3, Running);
    }

    private CompletableFuture<InstanceStateMonitorResponse> waitFor(final long gen)
    {
        final CompletableFuture<InstanceStateMonitorResponse> poll = new CompletableFuture<>();
        waiters.execute(() ->
        {
            try
            {
                poll.complete(vm.awaitGeneration(gen));
            }
            catch (final Exception e)
            {
                poll.completeExceptionally(e);
            }
        });
        return poll;
    }

    private void stepOnce()
    {
        assertThat(pendingSteps).isNotEmpty();
        pendingSteps.poll().run();
    }

    private void stepAll()
    {
        while (!pendingSteps.isEmpty())
        {
            pendingSteps.poll().run();
        }
    }

    private void assertLatest(final long gen, final PropolisInstanceState state)
    {
        assertThat(vm.latest().gen()).isEqualTo(gen);
        assertThat(vm.latest().state()).isEqualTo(state);
    }

    private void assertForbidden(final PropolisStateRequested requested, final String reason)
    {
        final long genBefore = vm.latest().gen();
        final PropolisRefusal refusal = catchThrowableOfType(PropolisRefusal.class, () -> vm.request(requested));
        assertThat(refusal).as("%s should be refused", requested).isNotNull();
        assertThat(refusal.statusCode()).isEqualTo(403);
        assertThat(refusal.errorCode()).isEqualTo("instance state change not allowed: " + reason);
        assertThat(refusal.getMessage()).isEqualTo("Forbidden");
        assertThat(vm.latest().gen()).isEqualTo(genBefore);
    }

    private static void assertRefused(final ThrowingCallable call, final int status, final String errorCode)
    {
        final PropolisRefusal refusal = catchThrowableOfType(PropolisRefusal.class, call);
        assertThat(refusal).isNotNull();
        assertThat(refusal.statusCode()).isEqualTo(status);
        assertThat(refusal.errorCode()).isEqualTo(errorCode);
    }
}
