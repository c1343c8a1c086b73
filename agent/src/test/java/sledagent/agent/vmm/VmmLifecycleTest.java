package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.everyEvent;
import static sledagent.agent.vmm.LifecycleFixtures.isRequest;
import static sledagent.agent.vmm.LifecycleFixtures.migrationTarget;
import static sledagent.agent.vmm.LifecycleFixtures.observed;
import static sledagent.agent.vmm.LifecycleFixtures.status;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import sledagent.api.SledVmmState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.api.propolis.PropolisStateRequested;

/**
 * {@link VmmLifecycle} against the (phase, event) table in its javadoc and the rules of DESIGN.md ("The
 * lifecycle, in one place"). Pure: no threads, no clock, no I/O.
 */
class VmmLifecycleTest
{
    private static final Instant T0 = Instant.parse("2026-11-24T01:00:00Z");
    private static final Reply OK_NULL = new Reply.Ok(new VmmPutStateResponse(null));

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
    private Instant now = T0;

    // ---------------------------------------------------------------- helpers

    private VmmRecord registered()
    {
        return VmmRecord.registered(propolisId, body(instanceId, REGISTERED_GEN), T0, 600_000);
    }

    private Transition apply(final VmmRecord record, final Event event)
    {
        now = now.plusSeconds(1);
        return VmmLifecycle.apply(record, event, now);
    }

    private VmmRecord step(final VmmRecord start, final Event... events)
    {
        VmmRecord record = start;
        for (final Event event : events)
        {
            record = apply(record, event).next();
        }
        return record;
    }

    /** STARTING, still "starting" at the registered generation. */
    private VmmRecord starting()
    {
        return step(registered(), new Event.RunRequested());
    }

    /** ACTIVE, still "starting" at the registered generation (Propolis not observed yet). */
    private VmmRecord active()
    {
        return step(starting(), new Event.VmmStarted());
    }

    /** ACTIVE and "running", gen registered + 1. */
    private VmmRecord running()
    {
        return step(active(), observed(1, PropolisInstanceState.Running));
    }

    /** ACTIVE, stop accepted, "stopping", gen registered + 2. */
    private VmmRecord stopping()
    {
        return step(running(), new Event.StopRequested());
    }

    /** HALTING (pending destroyed) after a force-terminate of a running VMM; still "running". */
    private VmmRecord halting()
    {
        return step(running(), new Event.ForceTerminateRequested());
    }

    /** DONE, "destroyed" published with gen registered + 2. */
    private VmmRecord done()
    {
        return step(halting(), new Event.ZoneTornDown());
    }

    private VmmRecord in(final Phase phase)
    {
        final VmmRecord record = switch (phase)
        {
            case REGISTERED -> registered();
            case STARTING -> starting();
            case ACTIVE -> running();
            case HALTING -> halting();
            case DONE -> done();
        };
        assertThat(record.phase()).isEqualTo(phase);
        assertThat(record.owner()).isEqualTo(Owner.AGENT);
        return record;
    }

    private static List<Effect.Publish> publishes(final List<Effect> effects)
    {
        return effects.stream().filter(Effect.Publish.class::isInstance).map(Effect.Publish.class::cast).toList();
    }

    private static Object okBody(final Reply reply)
    {
        assertThat(reply).isInstanceOf(Reply.Ok.class);
        return ((Reply.Ok)reply).body();
    }

    private static ApiError failure(final Reply reply)
    {
        assertThat(reply).isInstanceOf(Reply.Failed.class);
        return ((Reply.Failed)reply).error();
    }

    private static void assertTearingDown(final Reply reply)
    {
        final ApiError error = failure(reply);
        assertThat(error.status()).isEqualTo(410);
        assertThat(error.errorCode()).isEqualTo(ApiError.NO_SUCH_INSTANCE);
    }

    private void assertState(final VmmRecord record, final VmmState state, final long gen)
    {
        assertThat(record.vmmState()).isEqualTo(state);
        assertThat(record.gen()).isEqualTo(gen);
    }

    private void assertNoOp(final VmmRecord before, final Event event)
    {
        final Transition t = apply(before, event);
        // A settled publish only ever raises the acked generation; that is bookkeeping, not a change of state.
        assertThat(t.next().withAckedGen(before.ackedGen())).as("%s in %s", event, before.phase()).isEqualTo(before);
        assertThat(t.effects()).as("%s in %s", event, before.phase()).isEmpty();
        assertThat(t.reply()).as("%s in %s", event, before.phase()).isNull();
    }

    // ---------------------------------------------------------------- registration

    @Test
    void registeredRecordKeepsTheRegisteredRuntime()
    {
        final VmmRecord record = registered();
        assertThat(record.phase()).isEqualTo(Phase.REGISTERED);
        assertThat(record.owner()).isEqualTo(Owner.AGENT);
        assertState(record, VmmState.STARTING, REGISTERED_GEN);
        assertThat(record.current().migrationIn()).isNull();
        assertThat(record.stopRequested()).isFalse();
    }

    // ---------------------------------------------------------------- REGISTERED

    @Test
    void registeredRunStartsTheVmmAndRepliesNull()
    {
        final VmmRecord before = registered();
        final Transition t = apply(before, new Event.RunRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.STARTING);
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.effects()).containsExactly(new Effect.StartVmm(null));
        assertThat(t.reply()).isEqualTo(OK_NULL);
    }

    @Test
    void registeredStopGoesStraightToDestroyedWithoutSpawningAnything()
    {
        final Transition t = apply(registered(), new Event.StopRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.DONE);
        assertState(t.next(), VmmState.DESTROYED, REGISTERED_GEN + 1);
        assertThat(t.next().current().vmmState().timeUpdated()).isEqualTo(now);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()));
        assertThat(t.effects()).noneMatch(e -> e instanceof Effect.StartVmm || e instanceof Effect.TearDownZone
            || e instanceof Effect.ArmStopDeadline);
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(t.next().current())));

        // ...and it then leaves the table once that publish is settled.
        final Transition settled = apply(t.next(), new Event.PublishSettled(REGISTERED_GEN + 1));
        assertThat(settled.effects()).containsExactly(new Effect.RemoveFromTable());
    }

    @Test
    void registeredForceTerminatePublishesDestroyedAtOnce()
    {
        final Transition t = apply(registered(), new Event.ForceTerminateRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.DONE);
        assertState(t.next(), VmmState.DESTROYED, REGISTERED_GEN + 1);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()));
        assertThat(t.reply()).isEqualTo(new Reply.Ok(t.next().current()));
    }

    @Test
    void registeredUnregisterRemovesAtOnceRepliesFailedAndPublishesNothing()
    {
        final Transition t = apply(registered(), new Event.UnregisterRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.DONE);
        assertThat(t.next().owner()).isEqualTo(Owner.NEXUS);
        assertState(t.next(), VmmState.FAILED, REGISTERED_GEN + 1);
        assertThat(t.effects()).containsExactly(new Effect.RemoveFromTable());
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmUnregisterResponse(t.next().current())));
    }

    // ---------------------------------------------------------------- STARTING

    @Test
    void startingRunIsAcceptedAndChangesNothing()
    {
        final VmmRecord before = starting();
        final Transition t = apply(before, new Event.RunRequested());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        assertThat(t.reply()).isEqualTo(OK_NULL);
    }

    @Test
    void startingVmmStartedBecomesActiveAndWatchesFromZero()
    {
        final VmmRecord before = starting();
        final Transition t = apply(before, new Event.VmmStarted());
        assertThat(t.next().phase()).isEqualTo(Phase.ACTIVE);
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.effects()).containsExactly(new Effect.WatchPropolis(0));
        assertThat(t.reply()).isNull();
    }

    @Test
    void startingStartFailedHaltsAsFailedAndPublishesOnlyOnceTheZoneIsGone()
    {
        final Transition t = apply(starting(), new Event.StartFailed("spawn failed"));
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertState(t.next(), VmmState.STARTING, REGISTERED_GEN);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.TearDownZone(false));

        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertThat(down.next().phase()).isEqualTo(Phase.DONE);
        assertState(down.next(), VmmState.FAILED, REGISTERED_GEN + 1);
        assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
            new Effect.Publish(down.next().current()),
            new Effect.AnswerDeferred(down.next().current()));
    }

    @Test
    void startingStopPublishesStoppingAndKillsTheZoneWithoutADeadline()
    {
        final Transition t = apply(starting(), new Event.StopRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertState(t.next(), VmmState.STOPPING, REGISTERED_GEN + 1);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.Publish(t.next().current()),
            new Effect.TearDownZone(false));
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(t.next().current())));

        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertState(down.next(), VmmState.DESTROYED, REGISTERED_GEN + 2);
        assertThat(publishes(down.effects())).containsExactly(new Effect.Publish(down.next().current()));
    }

    // ---------------------------------------------------------------- ACTIVE: requests

    @Test
    void activeRunIsForwardedToPropolis()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, new Event.RunRequested());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).containsExactly(new Effect.SendPropolisState(PropolisStateRequested.Run));
        assertThat(t.reply()).isEqualTo(OK_NULL);
    }

    /** Not in the table: the code refuses Run once a stop was accepted (Propolis cannot restart a halted VM). */
    @Test
    void activeRunAfterAStopIsAConflict()
    {
        final VmmRecord before = stopping();
        final Transition t = apply(before, new Event.RunRequested());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        assertThat(failure(t.reply()).status()).isEqualTo(409);
    }

    @Test
    void activeFirstStopArmsTheDeadlinePublishesStoppingAndAsksPropolis()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, new Event.StopRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.ACTIVE);
        assertThat(t.next().stopRequested()).isTrue();
        assertState(t.next(), VmmState.STOPPING, before.gen() + 1);
        assertThat(t.next().current().vmmState().timeUpdated()).isEqualTo(now);
        // The grace is decided here, once: the record's stop grace from the time of the stop.
        assertThat(t.next().stopDeadlineAt()).isEqualTo(now.plusMillis(before.stopGraceMs()));
        assertThat(t.effects()).containsExactly(new Effect.ArmStopDeadline(t.next().stopDeadlineAt()),
            new Effect.Publish(t.next().current()), new Effect.SendPropolisState(PropolisStateRequested.Stop));
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(t.next().current())));
    }

    @Test
    void activeSecondStopDoesNotReArmTheDeadlineNorPublish()
    {
        final VmmRecord before = stopping();
        final Transition t = apply(before, new Event.StopRequested());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).containsExactly(new Effect.SendPropolisState(PropolisStateRequested.Stop));
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(before.current())));
    }

    @Test
    void activeStopWhenPropolisAlreadyReportsStoppingArmsButDoesNotPublish()
    {
        final VmmRecord before = step(running(), observed(2, PropolisInstanceState.Stopping));
        assertState(before, VmmState.STOPPING, REGISTERED_GEN + 2);
        final Transition t = apply(before, new Event.StopRequested());
        assertState(t.next(), VmmState.STOPPING, REGISTERED_GEN + 2);
        assertThat(t.effects()).containsExactly(new Effect.ArmStopDeadline(now.plusMillis(before.stopGraceMs())),
            new Effect.SendPropolisState(PropolisStateRequested.Stop));
    }

    @Test
    void activeStopBeforePropolisWasObservedPublishesStopping()
    {
        final Transition t = apply(active(), new Event.StopRequested());
        assertState(t.next(), VmmState.STOPPING, REGISTERED_GEN + 1);
        assertThat(t.effects()).containsExactly(new Effect.ArmStopDeadline(t.next().stopDeadlineAt()),
            new Effect.Publish(t.next().current()), new Effect.SendPropolisState(PropolisStateRequested.Stop));
    }

    @Test
    void rebootWhileRunningPublishesRebooting()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, new Event.RebootRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.ACTIVE);
        assertState(t.next(), VmmState.REBOOTING, before.gen() + 1);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()),
            new Effect.SendPropolisState(PropolisStateRequested.Reboot));
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(t.next().current())));

        // Propolis comes back: running again, next generation.
        final Transition back = apply(t.next(), observed(3, PropolisInstanceState.Running));
        assertState(back.next(), VmmState.RUNNING, before.gen() + 2);
        assertThat(publishes(back.effects())).hasSize(1);
    }

    @Test
    void rebootWhenNotRunningIsAConflict()
    {
        final List<VmmRecord> notRunning = List.of(registered(), starting(), active(), stopping(),
            step(running(), new Event.RebootRequested()),
            step(running(), observed(2, PropolisInstanceState.Migrating)));
        for (final VmmRecord before : notRunning)
        {
            final Transition t = apply(before, new Event.RebootRequested());
            assertThat(t.next()).as("%s %s", before.phase(), before.vmmState()).isEqualTo(before);
            assertThat(t.effects()).isEmpty();
            assertThat(failure(t.reply()).status()).as("%s %s", before.phase(), before.vmmState()).isEqualTo(409);
        }
    }

    // ---------------------------------------------------------------- ACTIVE: Propolis observations

    @Test
    void firstPublishedGenerationIsTheRegisteredOnePlusOne()
    {
        final Transition t = apply(active(), observed(1, PropolisInstanceState.Running));
        assertState(t.next(), VmmState.RUNNING, REGISTERED_GEN + 1);
        assertThat(t.next().current().vmmState().timeUpdated()).isEqualTo(now);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()), new Effect.WatchPropolis(2));
        assertThat(t.reply()).isNull();
    }

    @ParameterizedTest
    @EnumSource(value = PropolisInstanceState.class, names = {"Creating", "Starting"})
    void propolisStartingWhileRegisteredStartingPublishesNothing(final PropolisInstanceState state)
    {
        final VmmRecord before = active();
        final Transition t = apply(before, observed(7, state));
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.next().lastPropolisState()).isEqualTo(state);
        assertThat(t.effects()).containsExactly(new Effect.WatchPropolis(8));
    }

    @Test
    void sameObservedStateTwicePublishesOnce()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, observed(2, PropolisInstanceState.Running));
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.effects()).containsExactly(new Effect.WatchPropolis(3));
        final Transition repairing = apply(before, observed(3, PropolisInstanceState.Repairing));
        assertThat(repairing.next().current()).isEqualTo(before.current());
        assertThat(publishes(repairing.effects())).isEmpty();
    }

    @Test
    void everyPublishedChangeRaisesTheGenerationByExactlyOne()
    {
        VmmRecord record = active();
        long gen = REGISTERED_GEN;
        final PropolisInstanceState[] walk = {PropolisInstanceState.Creating, PropolisInstanceState.Starting,
            PropolisInstanceState.Running, PropolisInstanceState.Rebooting, PropolisInstanceState.Running,
            PropolisInstanceState.Migrating, PropolisInstanceState.Running, PropolisInstanceState.Stopping,
            PropolisInstanceState.Stopped};
        final VmmState[] expected = {VmmState.STARTING, VmmState.STARTING, VmmState.RUNNING, VmmState.REBOOTING,
            VmmState.RUNNING, VmmState.MIGRATING, VmmState.RUNNING, VmmState.STOPPING, VmmState.STOPPING};
        for (int i = 0; i < walk.length; i++)
        {
            final Transition t = apply(record, observed(i, walk[i]));
            final boolean changed = expected[i] != record.vmmState();
            gen += changed ? 1 : 0;
            assertState(t.next(), expected[i], gen);
            if (changed)
            {
                assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()),
                    new Effect.WatchPropolis(i + 1));
            }
            else
            {
                assertThat(t.effects()).containsExactly(new Effect.WatchPropolis(i + 1));
            }
            record = t.next();
        }
        assertThat(gen).isEqualTo(REGISTERED_GEN + 6);
    }

    @Test
    void propolisStoppedIsPublishedAsStopping()
    {
        final Transition t = apply(running(), observed(2, PropolisInstanceState.Stopped));
        assertState(t.next(), VmmState.STOPPING, REGISTERED_GEN + 2);
        assertThat(t.next().phase()).isEqualTo(Phase.ACTIVE);
        assertThat(t.next().lastPropolisState()).isEqualTo(PropolisInstanceState.Stopped);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()), new Effect.WatchPropolis(3));
    }

    @ParameterizedTest
    @EnumSource(value = PropolisInstanceState.class, names = {"Destroyed", "Failed"})
    void propolisTerminalIsPublishedOnlyOnceTheZoneIsGone(final PropolisInstanceState state)
    {
        final VmmRecord before = running();
        final Transition t = apply(before, observed(2, state));
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().current()).isEqualTo(before.current());
        // Failed is what a restart from the record before would reach (the process gone, Propolis last seen
        // running): the teardown goes ahead of the write. Destroyed is not (the restart would say failed).
        assertThat(anyLook(t.effects())).containsExactlyElementsOf(state == PropolisInstanceState.Failed
            ? List.of(new Effect.TearDownZone(false), new Effect.TearDownAhead())
            : List.of(new Effect.TearDownZone(false)));
        final VmmState terminal = state == PropolisInstanceState.Destroyed ? VmmState.DESTROYED : VmmState.FAILED;
        assertThat(t.next().pendingTerminal()).isEqualTo(terminal);

        // Anything but the teardown result publishes nothing meanwhile.
        VmmRecord halting = t.next();
        for (final Event event : List.of(observed(3, state), new Event.ProcessExited(), new Event.PropolisLost("x"),
            new Event.StopGraceExpired(), new Event.ZoneTeardownFailed("busy")))
        {
            final Transition meanwhile = apply(halting, event);
            assertThat(publishes(meanwhile.effects())).as("%s", event).isEmpty();
            assertThat(meanwhile.next().current()).isEqualTo(before.current());
            halting = meanwhile.next();
        }

        final Transition down = apply(halting, new Event.ZoneTornDown());
        assertThat(down.next().phase()).isEqualTo(Phase.DONE);
        assertState(down.next(), terminal, before.gen() + 1);
        assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
            new Effect.Publish(down.next().current()),
            new Effect.AnswerDeferred(down.next().current()));

        // Once: a second teardown result is a no-op.
        assertNoOp(down.next(), new Event.ZoneTornDown());
    }

    @Test
    void propolisDestroyedAfterAStopCancelsTheDeadline()
    {
        final Transition t = apply(stopping(), observed(3, PropolisInstanceState.Destroyed));
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.CancelStopDeadline(),
            new Effect.TearDownZone(false));
        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertState(down.next(), VmmState.DESTROYED, REGISTERED_GEN + 3);
    }

    @Test
    void afterAStopAnObservedRunningDoesNotMoveThePublishedStateBack()
    {
        final VmmRecord before = stopping();
        for (final PropolisInstanceState state : List.of(PropolisInstanceState.Running,
            PropolisInstanceState.Starting, PropolisInstanceState.Rebooting, PropolisInstanceState.Migrating))
        {
            final Transition t = apply(before, observed(4, state));
            assertThat(t.next().current()).as("%s", state).isEqualTo(before.current());
            assertThat(t.effects()).as("%s", state).containsExactly(new Effect.WatchPropolis(5));
        }
        final Transition stopped = apply(before, observed(5, PropolisInstanceState.Stopped));
        assertThat(stopped.next().current()).isEqualTo(before.current());
        assertThat(stopped.effects()).containsExactly(new Effect.WatchPropolis(6));
    }

    @Test
    void propolisLostHaltsAsFailed()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, new Event.PropolisLost("NoInstance"));
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(anyLook(t.effects())).containsExactly(new Effect.TearDownZone(false));
        assertState(step(t.next(), new Event.ZoneTornDown()), VmmState.FAILED, before.gen() + 1);
    }

    // ---------------------------------------------------------------- STARTING, ACTIVE: exits, deadline

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"STARTING", "ACTIVE"})
    void processExitedIsFailed(final Phase phase)
    {
        final VmmRecord before = in(phase);
        final Transition t = apply(before, new Event.ProcessExited());
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.TearDownAhead(), new Effect.TearDownZone(false));
        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertState(down.next(), VmmState.FAILED, before.gen() + 1);
        assertThat(publishes(down.effects())).containsExactly(new Effect.Publish(down.next().current()));
    }

    @Test
    void processExitedAfterPropolisReportedStoppedIsDestroyed()
    {
        final VmmRecord before = step(stopping(), observed(3, PropolisInstanceState.Stopped));
        final Transition t = apply(before, new Event.ProcessExited());
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.TearDownAhead(), new Effect.CancelStopDeadline(),
            new Effect.TearDownZone(false));
        assertState(step(t.next(), new Event.ZoneTornDown()), VmmState.DESTROYED, before.gen() + 1);

        // Even without a stop request (the guest halted itself).
        final VmmRecord halted = step(running(), observed(3, PropolisInstanceState.Stopped));
        final Transition exited = apply(halted, new Event.ProcessExited());
        assertThat(exited.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(anyLook(exited.effects())).containsExactly(new Effect.TearDownAhead(),
            new Effect.TearDownZone(false));
    }

    @Test
    void theTeardownGoesAheadOfTheWriteOnlyWhereARestartFromTheRecordBeforeWouldHaltTheSameWay()
    {
        // After Propolis reported Stopped, a restart that finds the process gone says destroyed.
        final VmmRecord stopped = step(stopping(), observed(3, PropolisInstanceState.Stopped));
        assertThat(apply(stopped, observed(4, PropolisInstanceState.Destroyed)).effects())
            .as("Destroyed after Stopped: the same terminal").contains(new Effect.TearDownAhead());
        final Transition failedAfterStopped = apply(stopped, observed(4, PropolisInstanceState.Failed));
        assertThat(failedAfterStopped.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertThat(failedAfterStopped.effects()).as("Failed after Stopped: a restart would say destroyed")
            .doesNotContain(new Effect.TearDownAhead());
        // A step that publishes (a migration's news) writes its record first, as any.
        final UUID migration = UUID.randomUUID();
        final VmmRecord migrating = step(running(), observed(2, PropolisInstanceState.Migrating,
            null, status(migration, PropolisMigrationState.Sync)));
        final Transition failedMidMigration = apply(migrating, observed(3, PropolisInstanceState.Failed,
            null, status(migration, PropolisMigrationState.Error)));
        assertThat(publishes(failedMidMigration.effects())).isNotEmpty();
        assertThat(failedMidMigration.effects()).doesNotContain(new Effect.TearDownAhead());
    }

    @Test
    void processExitedWhilePropolisWasOnlyStoppingIsFailed()
    {
        final VmmRecord before = step(stopping(), observed(3, PropolisInstanceState.Stopping));
        final Transition t = apply(before, new Event.ProcessExited());
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
    }

    @Test
    void stopGraceExpiredIsDestroyedNotFailed()
    {
        final VmmRecord before = stopping();
        final Transition t = apply(before, new Event.StopGraceExpired());
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(anyLook(t.effects())).containsExactly(new Effect.JournalKill(KillIntent.Kind.GRACE_EXPIRED),
            new Effect.CancelStopDeadline(), new Effect.TearDownZone(false));
        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertState(down.next(), VmmState.DESTROYED, before.gen() + 1);
        assertThat(publishes(down.effects())).containsExactly(new Effect.Publish(down.next().current()));
    }

    @Test
    void stopGraceExpiredWhileStartingIsDestroyed()
    {
        final Transition t = apply(starting(), new Event.StopGraceExpired());
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(anyLook(t.effects())).containsExactly(new Effect.JournalKill(KillIntent.Kind.GRACE_EXPIRED),
            new Effect.TearDownZone(false));
    }

    // ---------------------------------------------------------------- force-terminate, every phase

    @ParameterizedTest
    @EnumSource(Phase.class)
    void forceTerminateInEveryPhase(final Phase phase)
    {
        final VmmRecord before = in(phase);
        final Transition t = apply(before, new Event.ForceTerminateRequested());
        switch (phase)
        {
            case REGISTERED ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.DONE);
                assertState(t.next(), VmmState.DESTROYED, before.gen() + 1);
                assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()));
                assertThat(t.reply()).isEqualTo(new Reply.Ok(t.next().current()));
            }
            case STARTING, ACTIVE ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
                assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
                assertThat(t.next().current()).isEqualTo(before.current());
                assertThat(anyLook(t.effects())).containsExactly(
                    new Effect.JournalKill(KillIntent.Kind.FORCE_TERMINATE), new Effect.TearDownZone(false));
                assertThat(t.reply()).isEqualTo(Reply.DEFERRED);

                final Transition down = apply(t.next(), new Event.ZoneTornDown());
                assertThat(down.next().phase()).isEqualTo(Phase.DONE);
                assertState(down.next(), VmmState.DESTROYED, before.gen() + 1);
                assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
                    new Effect.Publish(down.next().current()),
                    new Effect.AnswerDeferred(down.next().current()));
            }
            case HALTING, DONE ->
            {
                assertThat(t.next()).isEqualTo(before);
                assertThat(t.effects()).isEmpty();
                assertTearingDown(t.reply());
            }
        }
    }

    @Test
    void forceTerminateWhileStoppingCancelsTheDeadline()
    {
        final Transition t = apply(stopping(), new Event.ForceTerminateRequested());
        assertThat(anyLook(t.effects())).containsExactly(new Effect.JournalKill(KillIntent.Kind.FORCE_TERMINATE),
            new Effect.CancelStopDeadline(), new Effect.TearDownZone(false));
        assertThat(t.reply()).isEqualTo(Reply.DEFERRED);
    }

    // ---------------------------------------------------------------- unregister, every phase

    @ParameterizedTest
    @EnumSource(Phase.class)
    void unregisterInEveryPhaseHandsTheVmmToNexusAndNothingIsPublishedAfter(final Phase phase)
    {
        final VmmRecord before = in(phase);
        final Transition t = apply(before, new Event.UnregisterRequested());
        assertThat(t.next().owner()).isEqualTo(Owner.NEXUS);
        assertThat(publishes(t.effects())).isEmpty();
        switch (phase)
        {
            case REGISTERED ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.DONE);
                assertState(t.next(), VmmState.FAILED, before.gen() + 1);
                assertThat(t.effects()).containsExactly(new Effect.RemoveFromTable());
                assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmUnregisterResponse(t.next().current())));
            }
            case STARTING, ACTIVE ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
                assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
                assertState(t.next(), VmmState.FAILED, before.gen() + 1);
                assertThat(anyLook(t.effects())).containsExactly(new Effect.JournalKill(KillIntent.Kind.UNREGISTER),
                    new Effect.TearDownZone(false));
                assertThat(t.reply()).isEqualTo(Reply.DEFERRED);
            }
            case HALTING ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
                // Nexus takes it back as failed, whatever the teardown was going to publish.
                assertState(t.next(), VmmState.FAILED, before.gen() + 1);
                assertThat(t.effects()).isEmpty();
                assertThat(t.reply()).isEqualTo(Reply.DEFERRED);
            }
            case DONE ->
            {
                assertThat(t.next().phase()).isEqualTo(Phase.DONE);
                assertThat(t.next().current()).isEqualTo(before.current());
                assertThat(t.effects()).containsExactly(new Effect.RemoveFromTable());
                assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmUnregisterResponse(before.current())));
            }
        }

        VmmRecord record = t.next();
        if (record.phase() == Phase.HALTING)
        {
            final Transition down = apply(record, new Event.ZoneTornDown());
            assertThat(down.next().phase()).isEqualTo(Phase.DONE);
            assertThat(down.next().current()).isEqualTo(record.current());
            assertThat(down.effects()).containsExactly(new Effect.AnswerDeferred(record.current()),
                new Effect.RemoveFromTable());
            record = down.next();
        }
        final SledVmmState finalState = record.current();
        for (final Event event : everyEvent(9, record.gen()))
        {
            final Transition after = apply(record, event);
            assertThat(publishes(after.effects())).as("%s after unregister in %s", event, phase).isEmpty();
            assertThat(after.next().owner()).isEqualTo(Owner.NEXUS);
            assertThat(after.next().current()).isEqualTo(finalState);
            record = after.next();
        }
    }

    @Test
    void unregisterOfARunningVmmNeverPublishesEvenWithPropolisResultsInFlight()
    {
        VmmRecord record = step(stopping(), new Event.UnregisterRequested());
        final List<Effect> effects = new ArrayList<>();
        for (final Event event : List.of(observed(5, PropolisInstanceState.Destroyed), new Event.ProcessExited(),
            new Event.StopGraceExpired(), new Event.ZoneTeardownFailed("busy"), new Event.ZoneTornDown(),
            new Event.PublishSettled(100)))
        {
            final Transition t = apply(record, event);
            effects.addAll(t.effects());
            record = t.next();
        }
        assertThat(publishes(effects)).isEmpty();
        assertState(record, VmmState.FAILED, REGISTERED_GEN + 3);
        assertThat(effects).contains(new Effect.RetryTearDown(), new Effect.AnswerDeferred(record.current()));
    }

    /**
     * DESIGN.md rule 4: {@code DELETE} replies with {@code failed}; the table's HALTING/ZoneTornDown row ends in
     * "DONE, terminal". An unregister arriving while the zone is already being torn down (here: after a stop of a
     * starting VMM, which published "stopping") ends DONE with the non-terminal "stopping" and answers the
     * deferred unregister with it.
     */
    @Test
    void unregisterWhileHaltingRepliesFailedAndEndsTerminal()
    {
        final VmmRecord halting = step(starting(), new Event.StopRequested());
        assertState(halting, VmmState.STOPPING, REGISTERED_GEN + 1);
        final VmmRecord unregistered = step(halting, new Event.UnregisterRequested());
        final Transition down = apply(unregistered, new Event.ZoneTornDown());
        assertThat(down.next().phase()).isEqualTo(Phase.DONE);
        assertThat(down.next().vmmState().isTerminal()).isTrue();
        assertThat(down.next().vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(down.effects()).contains(new Effect.AnswerDeferred(down.next().current()));
        assertThat(publishes(down.effects())).isEmpty();
    }

    // ---------------------------------------------------------------- HALTING, DONE

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"HALTING", "DONE"})
    void runRebootAndForceTerminateAreGoneWhileTearingDown(final Phase phase)
    {
        final VmmRecord before = in(phase);
        for (final Event event : List.of(new Event.RunRequested(), new Event.RebootRequested(),
            new Event.ForceTerminateRequested()))
        {
            final Transition t = apply(before, event);
            assertThat(t.next()).as("%s", event).isEqualTo(before);
            assertThat(t.effects()).as("%s", event).isEmpty();
            assertTearingDown(t.reply());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"HALTING", "DONE"})
    void migrationTargetIsGoneWhileTearingDown(final Phase phase)
    {
        final VmmRecord before = in(phase);
        final Transition t = apply(before, migrationTarget());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        assertTearingDown(t.reply());
    }

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"HALTING", "DONE"})
    void stopWhileTearingDownIsIdempotent(final Phase phase)
    {
        final VmmRecord before = in(phase);
        final Transition t = apply(before, new Event.StopRequested());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmPutStateResponse(before.current())));
    }

    @Test
    void haltingTeardownFailedIsRetriedNeverGivenUp()
    {
        VmmRecord record = halting();
        for (int attempt = 0; attempt < 5; attempt++)
        {
            final Transition t = apply(record, new Event.ZoneTeardownFailed("still populated"));
            assertThat(t.next()).isEqualTo(record);
            assertThat(t.effects()).containsExactly(new Effect.RetryTearDown());
            record = t.next();
        }
        assertThat(step(record, new Event.ZoneTornDown()).phase()).isEqualTo(Phase.DONE);
    }

    @Test
    void doneRemovesItselfOnceTheTerminalPublishIsSettled()
    {
        final VmmRecord done = done();
        assertNoOp(done, new Event.PublishSettled(done.gen() - 1));
        final Transition t = apply(done, new Event.PublishSettled(done.gen()));
        assertThat(t.next()).isEqualTo(done.withAckedGen(done.gen()));
        assertThat(t.effects()).containsExactly(new Effect.RemoveFromTable());
        assertThat(t.reply()).isNull();
    }

    @Test
    void publishSettledOutsideDoneOnlyRaisesTheAckedGeneration()
    {
        for (final VmmRecord record : List.of(registered(), starting(), running(), stopping(), halting()))
        {
            assertNoOp(record, new Event.PublishSettled(record.gen()));
            final Transition t = apply(record, new Event.PublishSettled(record.gen() + 10));
            assertThat(t.next()).isEqualTo(record.withAckedGen(record.gen() + 10));
            assertThat(t.effects()).isEmpty();
            final Transition older = apply(t.next(), new Event.PublishSettled(record.gen()));
            assertThat(older.next().ackedGen()).as("never lowered").isEqualTo(record.gen() + 10);
        }
    }

    @Test
    void recoveryResendsTheCurrentStateOnlyIfNexusNeverSettledIt()
    {
        final VmmRecord unheard = running();
        assertThat(unheard.gen()).isGreaterThan(unheard.ackedGen());
        assertThat(apply(unheard, new Event.Recovered(true)).effects())
            .containsExactly(new Effect.Publish(unheard.current()), new Effect.WatchPropolis(0));
        final VmmRecord heard = unheard.withAckedGen(unheard.gen());
        assertThat(apply(heard, new Event.Recovered(true)).effects()).containsExactly(new Effect.WatchPropolis(0));
    }

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"REGISTERED", "STARTING", "ACTIVE", "DONE"})
    void zoneTeardownResultsOutsideHaltingAreIgnored(final Phase phase)
    {
        final VmmRecord before = in(phase);
        assertNoOp(before, new Event.ZoneTornDown());
        assertNoOp(before, new Event.ZoneTeardownFailed("late"));
    }

    /** A terminal VMM never changes state again: every event type, fed to every kind of DONE record. */
    @Test
    void aTerminalVmmNeverChangesAgain()
    {
        final List<VmmRecord> dones = List.of(done(), step(registered(), new Event.StopRequested()),
            step(registered(), new Event.ForceTerminateRequested()),
            step(starting(), new Event.StartFailed("x"), new Event.ZoneTornDown()),
            step(stopping(), new Event.StopGraceExpired(), new Event.ZoneTornDown()),
            step(running(), observed(4, PropolisInstanceState.Failed), new Event.ZoneTornDown()));
        for (final VmmRecord done : dones)
        {
            assertThat(done.phase()).isEqualTo(Phase.DONE);
            assertThat(done.vmmState().isTerminal()).isTrue();
            VmmRecord record = done;
            for (final Event event : everyEvent(99, done.gen()))
            {
                final Transition t = apply(record, event);
                assertThat(t.next().phase()).as("%s", event).isEqualTo(Phase.DONE);
                assertThat(t.next().current()).as("%s", event).isEqualTo(done.current());
                assertThat(t.next().vmmState()).isEqualTo(done.vmmState());
                assertThat(t.next().gen()).isEqualTo(done.gen());
                assertThat(publishes(t.effects())).as("%s", event).isEmpty();
                assertThat(t.effects()).as("%s", event).allMatch(e -> e instanceof Effect.RemoveFromTable);
                if (isRequest(event))
                {
                    assertThat(t.reply()).as("%s", event).isNotNull().isNotEqualTo(Reply.DEFERRED);
                }
                record = t.next();
            }
        }
    }

    // ---------------------------------------------------------------- late results

    @Test
    void lateResultsInTheWrongPhaseAreNoOps()
    {
        for (final VmmRecord record : List.of(registered(), running(), stopping(), halting(), done()))
        {
            assertNoOp(record, new Event.VmmStarted());
            assertNoOp(record, new Event.StartFailed("late"));
        }
        for (final VmmRecord record : List.of(registered(), starting(), halting(), done()))
        {
            for (final PropolisInstanceState state : PropolisInstanceState.values())
            {
                assertNoOp(record, observed(9, state));
            }
        }
        for (final VmmRecord record : List.of(registered(), halting(), done()))
        {
            assertNoOp(record, new Event.PropolisLost("late"));
            assertNoOp(record, new Event.ProcessExited());
            assertNoOp(record, new Event.StopGraceExpired());
        }
    }

    // ---------------------------------------------------------------- randomized properties

    /**
     * Random event sequences from a fresh record, with the invariants checked after every step. The master
     * seed is printed; rerun one with {@code -Dlifecycle.seed=<seed>}.
     */
    @Test
    void randomSequencesKeepTheInvariants()
    {
        final long master = Long.getLong("lifecycle.seed", System.nanoTime());
        System.out.println("VmmLifecycleTest.randomSequencesKeepTheInvariants seed=" + master
            + " (rerun with -Dlifecycle.seed=" + master + ")");
        final Random seeds = new Random(master);
        final int runs = 3000;
        final Map<String, Integer> ends = new TreeMap<>();
        for (int run = 0; run < runs; run++)
        {
            final long seed = seeds.nextLong();
            final List<Event> trace = new ArrayList<>();
            try
            {
                final VmmRecord last = randomRun(new Random(seed), trace);
                ends.merge(last.phase() + "/" + last.owner() + "/" + last.vmmState(), 1, Integer::sum);
            }
            catch (final AssertionError ex)
            {
                throw new AssertionError("master seed " + master + ", run " + run + " (seed " + seed
                    + "), events " + trace + ": " + ex.getMessage(), ex);
            }
        }
        System.out.println("VmmLifecycleTest.randomSequencesKeepTheInvariants ends: " + ends);
        // The walks get everywhere that matters (so the invariants were checked there).
        assertThat(ends).containsKeys("DONE/AGENT/DESTROYED", "DONE/AGENT/FAILED", "DONE/NEXUS/FAILED");
        assertThat(ends.keySet()).anyMatch(k -> k.startsWith("ACTIVE/")).anyMatch(k -> k.startsWith("HALTING/"));
    }

    private VmmRecord randomRun(final Random rnd, final List<Event> trace)
    {
        VmmRecord record = registered();
        long maxPublishedGen = Long.MIN_VALUE;
        int terminalPublishes = 0;
        int deadlinesArmed = 0;
        int deferredWaiting = 0;
        long propolisGen = 0;
        final int steps = 5 + rnd.nextInt(40);
        for (int i = 0; i < steps; i++)
        {
            final Event event = randomEvent(rnd, record, propolisGen++);
            trace.add(event);
            final VmmRecord before = record;
            final Transition t = apply(before, event);
            final VmmRecord next = t.next();

            // The generation never falls and rises by at most one; it moves exactly when the state moves.
            assertThat(next.gen()).isBetween(before.gen(), before.gen() + 1);
            assertThat(next.gen() != before.gen()).isEqualTo(next.vmmState() != before.vmmState());
            if (next.gen() != before.gen())
            {
                assertThat(next.current().vmmState().timeUpdated()).isEqualTo(now);
            }
            else
            {
                assertThat(next.current()).isEqualTo(before.current());
            }
            // Phases only move forward; the owner only moves to Nexus; identity never changes.
            assertThat(next.phase().ordinal()).isGreaterThanOrEqualTo(before.phase().ordinal());
            if (before.owner() == Owner.NEXUS)
            {
                assertThat(next.owner()).isEqualTo(Owner.NEXUS);
            }
            assertThat(next.propolisId()).isEqualTo(before.propolisId());
            assertThat(next.registration()).isSameAs(before.registration());

            // Publishing: at most one per step, of the current state, always newer, never for Nexus, terminal once.
            final List<Effect.Publish> published = publishes(t.effects());
            assertThat(published).hasSizeLessThanOrEqualTo(1);
            for (final Effect.Publish publish : published)
            {
                assertThat(publish.state()).isEqualTo(next.current());
                assertThat(publish.state().vmmState().gen()).isGreaterThan(maxPublishedGen);
                maxPublishedGen = publish.state().vmmState().gen();
                assertThat(before.owner()).isEqualTo(Owner.AGENT);
                assertThat(next.owner()).isEqualTo(Owner.AGENT);
                if (publish.state().vmmState().state().isTerminal())
                {
                    terminalPublishes++;
                    assertThat(next.phase()).isEqualTo(Phase.DONE);
                }
            }
            assertThat(terminalPublishes).isLessThanOrEqualTo(1);
            // Every change of state the agent owns is published (no silent generation bumps).
            if (next.owner() == Owner.AGENT && next.gen() != before.gen())
            {
                assertThat(published).hasSize(1);
            }

            // Nothing changes once DONE, except the owner.
            if (before.phase() == Phase.DONE)
            {
                assertThat(next.withOwner(before.owner()).withAckedGen(before.ackedGen())).isEqualTo(before);
            }
            if (next.phase() == Phase.DONE && next.owner() == Owner.AGENT)
            {
                assertThat(next.vmmState().isTerminal()).isTrue();
            }

            // Replies: every request gets one, nothing else does; only kills are deferred.
            if (isRequest(event))
            {
                assertThat(t.reply()).isNotNull();
            }
            else
            {
                assertThat(t.reply()).isNull();
            }
            if (t.reply() instanceof Reply.Deferred)
            {
                assertThat(event).isInstanceOfAny(Event.UnregisterRequested.class,
                    Event.ForceTerminateRequested.class);
                assertThat(next.phase()).isEqualTo(Phase.HALTING);
                deferredWaiting++;
            }
            for (final Effect effect : t.effects())
            {
                if (effect instanceof Effect.AnswerDeferred answer)
                {
                    assertThat(answer.finalState()).isEqualTo(next.current());
                    assertThat(event).isInstanceOf(Event.ZoneTornDown.class);
                    deferredWaiting = 0;
                }
                else if (effect instanceof Effect.ArmStopDeadline)
                {
                    deadlinesArmed++;
                }
                else if (effect instanceof Effect.RemoveFromTable)
                {
                    assertThat(next.phase()).isEqualTo(Phase.DONE);
                }
                else if (effect instanceof Effect.TearDownZone)
                {
                    assertThat(before.phase()).isIn(Phase.STARTING, Phase.ACTIVE);
                    assertThat(next.phase()).isEqualTo(Phase.HALTING);
                }
            }
            assertThat(deadlinesArmed).isLessThanOrEqualTo(1);
            if (next.phase() == Phase.DONE)
            {
                assertThat(deferredWaiting).as("deferred replies left unanswered").isZero();
            }
            record = next;
        }
        return record;
    }

    private static Event randomEvent(final Random rnd, final VmmRecord record, final long propolisGen)
    {
        return switch (rnd.nextInt(20))
        {
            case 0, 1 -> new Event.RunRequested();
            case 2 -> new Event.StopRequested();
            case 3 -> new Event.RebootRequested();
            case 4 -> migrationTarget();
            case 5 -> rnd.nextInt(3) == 0 ? new Event.UnregisterRequested() : new Event.RunRequested();
            case 6 -> rnd.nextInt(2) == 0 ? new Event.ForceTerminateRequested() : new Event.StopRequested();
            case 7, 8 -> new Event.VmmStarted();
            case 9 -> rnd.nextInt(3) == 0 ? new Event.StartFailed("random") : new Event.VmmStarted();
            case 10, 11, 12 ->
            {
                final PropolisInstanceState[] states = PropolisInstanceState.values();
                // Halting states are rarer, so that sequences get somewhere first.
                PropolisInstanceState state = states[rnd.nextInt(states.length)];
                if (state.isHalted() && rnd.nextBoolean())
                {
                    state = PropolisInstanceState.Running;
                }
                yield observed(propolisGen, state);
            }
            case 13 -> rnd.nextInt(3) == 0 ? new Event.PropolisLost("random")
                : observed(propolisGen, PropolisInstanceState.Stopped);
            case 14 -> rnd.nextInt(3) == 0 ? new Event.ProcessExited()
                : observed(propolisGen, PropolisInstanceState.Running);
            case 15 -> new Event.StopGraceExpired();
            case 16, 17 -> new Event.ZoneTornDown();
            case 18 -> new Event.ZoneTeardownFailed("random");
            default -> new Event.PublishSettled(record.gen() - 1 + rnd.nextInt(3));
        };
    }

    /** The effects with every TearDownZone's last-look flag cleared, for tests about something else. */
    static List<Effect> anyLook(final List<Effect> effects)
    {
        return effects.stream()
            .map(e -> e instanceof Effect.TearDownZone ? (Effect)new Effect.TearDownZone(false) : e)
            .toList();
    }

    // ---------------------------------------------------------------- restarts behind, and faults (issue 10)

    @Test
    void recoveredStartWithALiveProcessIsResumedAndWithADeadOneFailed()
    {
        final Transition alive = apply(starting(), new Event.Recovered(true));
        assertThat(alive.next().phase()).isEqualTo(Phase.STARTING);
        assertThat(alive.effects()).containsExactly(new Effect.ResumeStart());

        final Transition dead = apply(starting(), new Event.Recovered(false));
        assertThat(dead.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(dead.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertThat(dead.effects()).containsExactly(new Effect.TearDownZone(false));
    }

    @Test
    void journalledForceTerminateGivesTheSameGenerationAndStateAsTheRunThatMadeIt()
    {
        final VmmRecord live = step(running(), new Event.ForceTerminateRequested(), new Event.ZoneTornDown());
        final Transition recovered = apply(running(), new Event.Recovered(true,
            List.of(new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null))));
        assertThat(recovered.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(recovered.effects()).contains(new Effect.TearDownZone(false));
        assertThat(recovered.effects()).noneMatch(Effect.WatchPropolis.class::isInstance);
        final VmmRecord after = step(recovered.next(), new Event.ZoneTornDown());
        assertThat(after.current().vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(after.gen()).isEqualTo(live.gen());
    }

    @Test
    void journalledStopIsCarriedOnWithTheSameStoppingGenerationAndSentToPropolisAgain()
    {
        final VmmRecord live = stopping();
        final Transition recovered = apply(running(), new Event.Recovered(true,
            List.of(new KillIntent(KillIntent.Kind.STOP, T0.plusSeconds(600)))));
        assertThat(recovered.next().phase()).isEqualTo(Phase.ACTIVE);
        assertThat(recovered.next().stopRequested()).isTrue();
        assertThat(recovered.next().vmmState()).isEqualTo(VmmState.STOPPING);
        assertThat(recovered.next().gen()).isEqualTo(live.gen());
        assertThat(recovered.next().stopDeadlineAt()).as("the grace keeps its journalled end")
            .isEqualTo(T0.plusSeconds(600));
        assertThat(recovered.effects()).containsExactly(new Effect.Publish(recovered.next().current()),
            new Effect.ArmStopDeadline(T0.plusSeconds(600)), new Effect.SendPropolisState(PropolisStateRequested.Stop),
            new Effect.WatchPropolis(0));
    }

    @Test
    void journalledStopOfAVmmWhoseProcessIsGoneEndsAsALiveExitWould()
    {
        final Transition recovered = apply(running(), new Event.Recovered(false,
            List.of(new KillIntent(KillIntent.Kind.STOP, T0.plusSeconds(600)))));
        assertThat(recovered.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(recovered.next().stopRequested()).isTrue();
        assertThat(recovered.next().pendingTerminal()).as("not seen halted: it may have crashed on the way")
            .isEqualTo(VmmState.FAILED);
        final VmmRecord halted = step(running(), observed(2, PropolisInstanceState.Stopped));
        assertThat(apply(halted, new Event.Recovered(false, List.of(new KillIntent(KillIntent.Kind.STOP,
            T0.plusSeconds(600))))).next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
    }

    @Test
    void journalledGraceExpiryOfAStoppingVmmEndsDestroyedNotFailed()
    {
        // The record before the expiry (stop requested, Propolis never seen halted) with the process gone would
        // end failed; the journalled expiry makes the restart end it as the expiry did.
        final VmmRecord live = step(stopping(), new Event.StopGraceExpired(), new Event.ZoneTornDown());
        assertThat(apply(stopping(), new Event.Recovered(false, List.of())).next().pendingTerminal())
            .isEqualTo(VmmState.FAILED);
        final Transition recovered = apply(stopping(), new Event.Recovered(false,
            List.of(new KillIntent(KillIntent.Kind.GRACE_EXPIRED, null))));
        assertThat(recovered.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(recovered.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        final VmmRecord after = step(recovered.next(), new Event.ZoneTornDown());
        assertThat(after.current().vmmState().state()).isEqualTo(VmmState.DESTROYED);
        assertThat(after.gen()).isEqualTo(live.gen());
    }

    @Test
    void journalledUnregisterHandsTheVmmBackToNexusAndPublishesNothingMore()
    {
        final Transition recovered = apply(running().withAckedGen(REGISTERED_GEN + 1), new Event.Recovered(false,
            List.of(new KillIntent(KillIntent.Kind.UNREGISTER, null))));
        assertThat(recovered.next().owner()).isEqualTo(Owner.NEXUS);
        assertThat(recovered.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(publishes(recovered.effects())).isEmpty();
        final Transition tornDown = apply(recovered.next(), new Event.ZoneTornDown());
        assertThat(tornDown.effects()).contains(new Effect.RemoveFromTable());
        assertThat(publishes(tornDown.effects())).isEmpty();
    }

    @Test
    void replayingAKillTheRecordAlreadyHoldsChangesNothing()
    {
        // A stopping VMM holds its stop; a halting or done one (force-terminated) holds the force and any stop.
        final Map<VmmRecord, List<KillIntent.Kind>> holds = Map.of(stopping(), List.of(KillIntent.Kind.STOP),
            halting(), List.of(KillIntent.Kind.STOP, KillIntent.Kind.FORCE_TERMINATE),
            done(), List.of(KillIntent.Kind.STOP, KillIntent.Kind.FORCE_TERMINATE));
        for (final Map.Entry<VmmRecord, List<KillIntent.Kind>> held : holds.entrySet())
        {
            final VmmRecord record = held.getKey();
            for (final KillIntent.Kind kind : held.getValue())
            {
                final Transition plain = VmmLifecycle.apply(record, new Event.Recovered(true), now);
                final Transition replayed = VmmLifecycle.apply(record, new Event.Recovered(true,
                    List.of(new KillIntent(kind, T0))), now);
                assertThat(replayed.next()).as("%s replayed on %s", kind, record.phase()).isEqualTo(plain.next());
                assertThat(replayed.effects()).isEqualTo(plain.effects());
            }
        }
    }

    @Test
    void aFaultEndsTheVmmAsFailedFromEveryPhase()
    {
        final Transition registered = apply(registered(), new Event.Faulted("boom"));
        assertThat(registered.next().phase()).isEqualTo(Phase.DONE);
        assertThat(registered.next().vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(publishes(registered.effects())).hasSize(1);

        for (final VmmRecord live : List.of(starting(), running(), stopping()))
        {
            final Transition t = apply(live, new Event.Faulted("boom"));
            assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
            assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
            assertThat(t.effects()).contains(new Effect.TearDownZone(false));
        }
        assertThat(apply(halting(), new Event.Faulted("boom")).effects())
            .containsExactly(new Effect.TearDownZone(false));
        final VmmRecord done = done();
        assertThat(apply(done, new Event.Faulted("boom")).effects())
            .containsExactly(new Effect.Publish(done.current()));
    }

    @Test
    void generationsNeverWrapAround()
    {
        assertThat(VmmRecord.nextGen(41)).isEqualTo(42);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> VmmRecord.nextGen(Long.MAX_VALUE))
            .isInstanceOf(ArithmeticException.class);
    }
}
