package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.MIGRATION_SOURCE_ADDR;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.lastLook;
import static sledagent.agent.vmm.LifecycleFixtures.migrationTarget;
import static sledagent.agent.vmm.LifecycleFixtures.observed;
import static sledagent.agent.vmm.LifecycleFixtures.status;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.VmmPutStateResponse;
import sledagent.api.VmmState;
import sledagent.api.VmmUnregisterResponse;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * {@link VmmLifecycle}'s handling of live migration: the migration_target request, the migration records built
 * from Propolis's migration statuses (omicron's rules, research/omicron.md (B) "Migration records"), what a
 * terminal VMM does to them, the last look (DESIGN.md rule 5) and when it is asked for. Pure: no threads.
 */
class VmmMigrationLifecycleTest
{
    private static final Instant T0 = Instant.parse("2026-11-24T01:00:00Z");
    private static final Reply OK_NULL = new Reply.Ok(new VmmPutStateResponse(null));

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();
    /** The inbound migration a target is registered for. */
    private final UUID inId = UUID.randomUUID();
    /** An outbound migration of a running source. */
    private final UUID outId = UUID.randomUUID();
    private Instant now = T0;

    // ---------------------------------------------------------------- helpers

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

    /** A plain (non-migrating) VMM, registered "starting" at REGISTERED_GEN. */
    private VmmRecord registered()
    {
        return VmmRecord.registered(propolisId, body(instanceId, REGISTERED_GEN), T0, 600_000);
    }

    /** A migration target for {@link #inId}, registered "migrating" at REGISTERED_GEN. */
    private VmmRecord registeredTarget()
    {
        return VmmRecord.registered(propolisId, body(instanceId, REGISTERED_GEN, inId), T0, 600_000);
    }

    private VmmRecord startingTarget()
    {
        return step(registeredTarget(), migrationTarget());
    }

    /** ACTIVE target, nothing observed yet: "migrating" at REGISTERED_GEN, migration_in pending gen 1. */
    private VmmRecord activeTarget()
    {
        return step(startingTarget(), new Event.VmmStarted());
    }

    /** A plain VMM, ACTIVE and "running" at REGISTERED_GEN + 1. */
    private VmmRecord running()
    {
        return step(registered(), new Event.RunRequested(), new Event.VmmStarted(),
            observed(1, PropolisInstanceState.Running));
    }

    /** {@link #running()}, then migrating out ({@link #outId}) in {@code phase}: VMM gen REGISTERED_GEN + 2. */
    private VmmRecord migratingOut(final PropolisMigrationState phase)
    {
        final VmmRecord record = step(running(), observed(2, PropolisInstanceState.Migrating, null,
            status(outId, phase)));
        assertThat(record.gen()).isEqualTo(REGISTERED_GEN + 2);
        assertThat(record.current().migrationOut().gen()).isEqualTo(VmmLifecycle.FRESH_MIGRATION_GEN);
        return record;
    }

    private static List<Effect.Publish> publishes(final List<Effect> effects)
    {
        return effects.stream().filter(Effect.Publish.class::isInstance).map(Effect.Publish.class::cast).toList();
    }

    private static List<Effect.TearDownZone> tearDowns(final List<Effect> effects)
    {
        return effects.stream().filter(Effect.TearDownZone.class::isInstance).map(Effect.TearDownZone.class::cast)
            .toList();
    }

    private static ApiError failure(final Reply reply)
    {
        assertThat(reply).isInstanceOf(Reply.Failed.class);
        return ((Reply.Failed)reply).error();
    }

    private static MigrationRuntimeState in(final VmmRecord record)
    {
        return record.current().migrationIn();
    }

    private static MigrationRuntimeState out(final VmmRecord record)
    {
        return record.current().migrationOut();
    }

    private static void assertMigration(final MigrationRuntimeState migration, final UUID id,
        final MigrationState state, final long gen)
    {
        assertThat(migration).isNotNull();
        assertThat(migration.migrationId()).isEqualTo(id);
        assertThat(migration.state()).isEqualTo(state);
        assertThat(migration.gen()).isEqualTo(gen);
    }

    private void assertNoOp(final VmmRecord before, final Event event)
    {
        final Transition t = apply(before, event);
        assertThat(t.next()).as("%s in %s", event, before.phase()).isEqualTo(before);
        assertThat(t.effects()).as("%s in %s", event, before.phase()).isEmpty();
        assertThat(t.reply()).as("%s in %s", event, before.phase()).isNull();
    }

    // ---------------------------------------------------------------- 1. migration_target

    @Test
    void registeringWithAMigrationIdGivesAPendingMigrationInAtGenOne()
    {
        final VmmRecord record = registeredTarget();
        assertThat(record.phase()).isEqualTo(Phase.REGISTERED);
        assertThat(record.vmmState()).isEqualTo(VmmState.MIGRATING);
        assertThat(record.gen()).isEqualTo(REGISTERED_GEN);
        assertThat(in(record)).isEqualTo(new MigrationRuntimeState(inId, MigrationState.PENDING, 1, T0));
        assertThat(out(record)).isNull();
    }

    @Test
    void migrationTargetFromRegisteredStartsTheVmmPullingFromTheSource()
    {
        final VmmRecord before = registeredTarget();
        final Transition t = apply(before, migrationTarget());
        assertThat(t.next().phase()).isEqualTo(Phase.STARTING);
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.effects()).containsExactly(new Effect.StartVmm(MIGRATION_SOURCE_ADDR));
        assertThat(t.reply()).isEqualTo(OK_NULL);
    }

    @Test
    void migrationTargetWithoutAMigrationIdIsAConflictAndChangesNothing()
    {
        final VmmRecord before = registered();
        final Transition t = apply(before, migrationTarget());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        assertThat(failure(t.reply()).status()).isEqualTo(409);
    }

    @Test
    void migrationTargetWhileStartingIsAcceptedAndChangesNothing()
    {
        for (final VmmRecord before : List.of(startingTarget(), step(registered(), new Event.RunRequested())))
        {
            assertThat(before.phase()).isEqualTo(Phase.STARTING);
            final Transition t = apply(before, migrationTarget());
            assertThat(t.next()).isEqualTo(before);
            assertThat(t.effects()).isEmpty();
            assertThat(t.reply()).isEqualTo(OK_NULL);
        }
    }

    @Test
    void migrationTargetWhileActiveIsAConflict()
    {
        for (final VmmRecord before : List.of(activeTarget(), running(), migratingOut(PropolisMigrationState.Sync)))
        {
            assertThat(before.phase()).isEqualTo(Phase.ACTIVE);
            final Transition t = apply(before, migrationTarget());
            assertThat(t.next()).isEqualTo(before);
            assertThat(t.effects()).isEmpty();
            assertThat(failure(t.reply()).status()).isEqualTo(409);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Phase.class, names = {"HALTING", "DONE"})
    void migrationTargetOfATargetBeingTornDownIsGone(final Phase phase)
    {
        VmmRecord before = step(activeTarget(), new Event.ForceTerminateRequested());
        if (phase == Phase.DONE)
        {
            before = step(before, new Event.ZoneTornDown());
        }
        assertThat(before.phase()).isEqualTo(phase);
        final Transition t = apply(before, migrationTarget());
        assertThat(t.next()).isEqualTo(before);
        assertThat(t.effects()).isEmpty();
        final ApiError error = failure(t.reply());
        assertThat(error.status()).isEqualTo(410);
        assertThat(error.errorCode()).isEqualTo(ApiError.NO_SUCH_INSTANCE);
    }

    // ---------------------------------------------------------------- 2. observed migration statuses

    @Test
    void inboundMigrationProgressFollowsTheRegisteredRecord()
    {
        final VmmRecord target = activeTarget();

        // Sync: pending -> in_progress, that migration's next gen; the VMM's gen once; published.
        final Transition sync = apply(target, observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Sync), null));
        assertThat(in(sync.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.IN_PROGRESS, 2, now));
        assertThat(out(sync.next())).isNull();
        assertThat(sync.next().vmmState()).isEqualTo(VmmState.MIGRATING);
        assertThat(sync.next().gen()).isEqualTo(REGISTERED_GEN + 1);
        assertThat(sync.next().current().vmmState().timeUpdated()).isEqualTo(now);
        assertThat(sync.effects()).containsExactly(new Effect.Publish(sync.next().current()),
            new Effect.WatchPropolis(2));

        // The same phase again, or another phase that is also in_progress: nothing changes, nothing published.
        for (final PropolisMigrationState phase : List.of(PropolisMigrationState.Sync,
            PropolisMigrationState.RamPush, PropolisMigrationState.Device))
        {
            final Transition again = apply(sync.next(), observed(2, PropolisInstanceState.Migrating,
                status(inId, phase), null));
            assertThat(again.next().current()).as("%s", phase).isEqualTo(sync.next().current());
            assertThat(again.effects()).as("%s", phase).containsExactly(new Effect.WatchPropolis(3));
        }

        // Finish: completed at the next gen; with the VMM running, the VMM gen still rises by one only.
        final Transition finish = apply(sync.next(), observed(3, PropolisInstanceState.Running,
            status(inId, PropolisMigrationState.Finish), null));
        assertThat(in(finish.next())).isEqualTo(
            new MigrationRuntimeState(inId, MigrationState.COMPLETED, 3, now));
        assertThat(finish.next().vmmState()).isEqualTo(VmmState.RUNNING);
        assertThat(finish.next().gen()).isEqualTo(REGISTERED_GEN + 2);
        assertThat(finish.effects()).containsExactly(new Effect.Publish(finish.next().current()),
            new Effect.WatchPropolis(4));

        // Completed is final: a later Error (or anything else) for that id changes nothing.
        for (final PropolisMigrationState phase : List.of(PropolisMigrationState.Error,
            PropolisMigrationState.Sync, PropolisMigrationState.Finish))
        {
            final Transition late = apply(finish.next(), observed(4, PropolisInstanceState.Running,
                status(inId, phase), null));
            assertThat(late.next().current()).as("%s", phase).isEqualTo(finish.next().current());
            assertThat(publishes(late.effects())).as("%s", phase).isEmpty();
        }
    }

    @Test
    void aFirstOutboundReportIsAFreshRecordAtGenTwo()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, observed(2, PropolisInstanceState.Migrating, null,
            status(outId, PropolisMigrationState.Sync)));
        assertThat(out(t.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.IN_PROGRESS,
            VmmLifecycle.FRESH_MIGRATION_GEN, now));
        assertThat(in(t.next())).isNull();
        assertThat(t.next().vmmState()).isEqualTo(VmmState.MIGRATING);
        assertThat(t.next().gen()).isEqualTo(before.gen() + 1);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()), new Effect.WatchPropolis(3));
    }

    @Test
    void aFirstReportOnlyOfAMigrationChangeStillPublishesWithTheVmmStateUnchanged()
    {
        // The VMM state does not change (running), only the migration does: still one gen and one publish.
        final VmmRecord before = running();
        final Transition t = apply(before, observed(2, PropolisInstanceState.Running, null,
            status(outId, PropolisMigrationState.Finish)));
        assertThat(out(t.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.COMPLETED,
            VmmLifecycle.FRESH_MIGRATION_GEN, now));
        assertThat(t.next().vmmState()).isEqualTo(VmmState.RUNNING);
        assertThat(t.next().gen()).isEqualTo(before.gen() + 1);
        assertThat(t.next().current().vmmState().timeUpdated()).isEqualTo(now);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()), new Effect.WatchPropolis(3));
    }

    @Test
    void aDifferentMigrationIdIsAFreshRecordAtGenTwo()
    {
        // Outbound: outId reaches completed at gen 3; a second migration out starts over at gen 2.
        final VmmRecord done = step(migratingOut(PropolisMigrationState.Sync),
            observed(3, PropolisInstanceState.Running, null, status(outId, PropolisMigrationState.Finish)));
        assertMigration(out(done), outId, MigrationState.COMPLETED, 3);
        final UUID second = UUID.randomUUID();
        final Transition t = apply(done, observed(4, PropolisInstanceState.Migrating, null,
            status(second, PropolisMigrationState.Sync)));
        assertThat(out(t.next())).isEqualTo(new MigrationRuntimeState(second, MigrationState.IN_PROGRESS,
            VmmLifecycle.FRESH_MIGRATION_GEN, now));
        assertThat(t.next().gen()).isEqualTo(done.gen() + 1);
        assertThat(publishes(t.effects())).hasSize(1);

        // Inbound: Propolis reports a migration other than the registered one.
        final UUID other = UUID.randomUUID();
        final Transition target = apply(activeTarget(), observed(1, PropolisInstanceState.Migrating,
            status(other, PropolisMigrationState.Sync), null));
        assertThat(in(target.next())).isEqualTo(new MigrationRuntimeState(other, MigrationState.IN_PROGRESS,
            VmmLifecycle.FRESH_MIGRATION_GEN, now));
    }

    @Test
    void errorIsFailedAndFinal()
    {
        // Outbound: in_progress (gen 2) -> failed (gen 3); a later Finish for it changes nothing.
        final Transition failed = apply(migratingOut(PropolisMigrationState.RamPush),
            observed(3, PropolisInstanceState.Running, null, status(outId, PropolisMigrationState.Error)));
        assertThat(out(failed.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.FAILED, 3, now));
        assertThat(publishes(failed.effects())).containsExactly(new Effect.Publish(failed.next().current()));
        final Transition late = apply(failed.next(), observed(4, PropolisInstanceState.Running, null,
            status(outId, PropolisMigrationState.Finish)));
        assertThat(late.next().current()).isEqualTo(failed.next().current());
        assertThat(publishes(late.effects())).isEmpty();

        // Inbound: pending (gen 1) -> failed (gen 2).
        final Transition inFailed = apply(activeTarget(), observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Error), null));
        assertThat(in(inFailed.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.FAILED, 2, now));
    }

    @Test
    void anObservationWithoutMigrationStatusesKeepsTheRecords()
    {
        final VmmRecord before = migratingOut(PropolisMigrationState.Sync);
        final Transition t = apply(before, observed(3, PropolisInstanceState.Running));
        assertThat(out(t.next())).isEqualTo(out(before));
        assertThat(t.next().vmmState()).isEqualTo(VmmState.RUNNING);

        final VmmRecord target = activeTarget();
        final Transition targetRunning = apply(target, observed(1, PropolisInstanceState.Migrating));
        assertThat(targetRunning.next().current()).isEqualTo(target.current());
        assertThat(targetRunning.effects()).containsExactly(new Effect.WatchPropolis(2));
    }

    @Test
    void bothSidesAndTheVmmStateChangingAtOnceRaiseTheVmmGenOnce()
    {
        final VmmRecord before = activeTarget();
        final UUID onward = UUID.randomUUID();
        final Transition t = apply(before, observed(1, PropolisInstanceState.Running,
            status(inId, PropolisMigrationState.Finish), status(onward, PropolisMigrationState.Sync)));
        assertMigration(in(t.next()), inId, MigrationState.COMPLETED, 2);
        assertMigration(out(t.next()), onward, MigrationState.IN_PROGRESS, VmmLifecycle.FRESH_MIGRATION_GEN);
        assertThat(t.next().vmmState()).isEqualTo(VmmState.RUNNING);
        assertThat(t.next().gen()).isEqualTo(before.gen() + 1);
        assertThat(publishes(t.effects())).hasSize(1);
    }

    @Test
    void afterAStopAMigrationChangeIsPublishedWithoutMovingTheVmmStateBack()
    {
        final VmmRecord stopping = step(migratingOut(PropolisMigrationState.Sync), new Event.StopRequested());
        assertThat(stopping.vmmState()).isEqualTo(VmmState.STOPPING);
        final Transition t = apply(stopping, observed(3, PropolisInstanceState.Running, null,
            status(outId, PropolisMigrationState.Finish)));
        assertThat(t.next().vmmState()).isEqualTo(VmmState.STOPPING);
        assertMigration(out(t.next()), outId, MigrationState.COMPLETED, 3);
        assertThat(t.next().gen()).isEqualTo(stopping.gen() + 1);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()), new Effect.WatchPropolis(4));
    }

    // ---------------------------------------------------------------- 3. terminal handling

    /** Ways an ACTIVE VMM is killed without Propolis having said Destroyed or Failed. */
    enum Kill
    {
        FORCE_TERMINATE(VmmState.DESTROYED),
        STOP_GRACE_EXPIRED(VmmState.DESTROYED),
        PROCESS_EXITED(VmmState.FAILED),
        PROPOLIS_LOST(VmmState.FAILED);

        final VmmState terminal;

        Kill(final VmmState terminal)
        {
            this.terminal = terminal;
        }

        List<Event> events()
        {
            return switch (this)
            {
                case FORCE_TERMINATE -> List.of(new Event.ForceTerminateRequested());
                case STOP_GRACE_EXPIRED -> List.of(new Event.StopRequested(), new Event.StopGraceExpired());
                case PROCESS_EXITED -> List.of(new Event.ProcessExited());
                case PROPOLIS_LOST -> List.of(new Event.PropolisLost("NoInstance"));
            };
        }
    }

    /** Applies the kill and the teardown; returns every effect on the way (the teardown's last). */
    private VmmRecord killAndTearDown(final VmmRecord start, final Kill kill, final List<Effect> effects)
    {
        VmmRecord record = start;
        for (final Event event : kill.events())
        {
            final Transition t = apply(record, event);
            effects.addAll(t.effects());
            record = t.next();
        }
        assertThat(record.phase()).isEqualTo(Phase.HALTING);
        assertThat(record.pendingTerminal()).isEqualTo(kill.terminal);
        final Transition down = apply(record, new Event.ZoneTornDown());
        effects.addAll(down.effects());
        assertThat(down.next().phase()).isEqualTo(Phase.DONE);
        assertThat(down.next().vmmState()).isEqualTo(kill.terminal);
        assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
            new Effect.Publish(down.next().current()),
            new Effect.AnswerDeferred(down.next().current()));
        return down.next();
    }

    @ParameterizedTest
    @EnumSource(Kill.class)
    void aMigrationOutSeenCompletedStaysCompletedThroughAKill(final Kill kill)
    {
        final VmmRecord completed = migratingOut(PropolisMigrationState.Finish);
        final MigrationRuntimeState seen = out(completed);
        assertMigration(seen, outId, MigrationState.COMPLETED, VmmLifecycle.FRESH_MIGRATION_GEN);

        final List<Effect> effects = new ArrayList<>();
        final VmmRecord done = killAndTearDown(completed, kill, effects);
        assertThat(out(done)).isEqualTo(seen);
        assertThat(publishes(effects)).allSatisfy(p -> assertThat(p.state().migrationOut()).isEqualTo(seen));
    }

    @ParameterizedTest
    @EnumSource(Kill.class)
    void aMigrationOutInProgressEndsFailedAtItsNextGen(final Kill kill)
    {
        final VmmRecord migrating = migratingOut(PropolisMigrationState.RamPushDirty);
        final VmmRecord done = killAndTearDown(migrating, kill, new ArrayList<>());
        assertThat(out(done)).isEqualTo(new MigrationRuntimeState(outId, MigrationState.FAILED,
            VmmLifecycle.FRESH_MIGRATION_GEN + 1, now));
    }

    @ParameterizedTest
    @EnumSource(Kill.class)
    void aTargetWhoseMigrationInCompletedKeepsItThroughAKill(final Kill kill)
    {
        final VmmRecord arrived = step(activeTarget(), observed(1, PropolisInstanceState.Running,
            status(inId, PropolisMigrationState.Finish), null));
        final MigrationRuntimeState seen = in(arrived);
        assertMigration(seen, inId, MigrationState.COMPLETED, 2);
        assertThat(in(killAndTearDown(arrived, kill, new ArrayList<>()))).isEqualTo(seen);
    }

    @Test
    void aPendingMigrationInOfARegisteredTargetThatIsStoppedIsFailed()
    {
        for (final Event kill : List.of(new Event.StopRequested(), new Event.ForceTerminateRequested()))
        {
            final Transition t = apply(registeredTarget(), kill);
            assertThat(t.next().phase()).as("%s", kill).isEqualTo(Phase.DONE);
            assertThat(t.next().vmmState()).isEqualTo(VmmState.DESTROYED);
            assertThat(t.next().gen()).isEqualTo(REGISTERED_GEN + 1);
            assertThat(in(t.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.FAILED, 2, now));
            assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()));
        }
    }

    @Test
    void unregisteringARegisteredTargetFailsItsMigrationAndPublishesNothing()
    {
        final Transition t = apply(registeredTarget(), new Event.UnregisterRequested());
        assertThat(t.next().phase()).isEqualTo(Phase.DONE);
        assertThat(t.next().owner()).isEqualTo(Owner.NEXUS);
        assertThat(t.next().vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(in(t.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.FAILED, 2, now));
        assertThat(t.effects()).containsExactly(new Effect.RemoveFromTable());
        assertThat(t.reply()).isEqualTo(new Reply.Ok(new VmmUnregisterResponse(t.next().current())));
    }

    @Test
    void unregisteringAMigratingTargetFailsItsMigrationAndPublishesNothing()
    {
        final VmmRecord starting = startingTarget();
        final VmmRecord migrating = step(activeTarget(), observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Sync), null));
        assertMigration(in(migrating), inId, MigrationState.IN_PROGRESS, 2);
        for (final VmmRecord before : List.of(starting, migrating))
        {
            final long inGen = in(before).gen();
            final Transition t = apply(before, new Event.UnregisterRequested());
            assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
            assertThat(t.next().owner()).isEqualTo(Owner.NEXUS);
            assertThat(t.next().vmmState()).isEqualTo(VmmState.FAILED);
            assertThat(t.next().gen()).isEqualTo(before.gen() + 1);
            // The migration is settled after the last look, when the zone is gone.
            assertThat(in(t.next())).isEqualTo(in(before));
            assertThat(publishes(t.effects())).isEmpty();
            assertThat(t.reply()).isEqualTo(Reply.DEFERRED);

            final Transition down = apply(t.next(), new Event.ZoneTornDown());
            assertThat(in(down.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.FAILED, inGen + 1,
                now));
            assertThat(down.next().vmmState()).isEqualTo(VmmState.FAILED);
            assertThat(publishes(down.effects())).isEmpty();
            assertThat(down.effects()).containsExactly(new Effect.AnswerDeferred(down.next().current()),
                new Effect.RemoveFromTable());
        }
    }

    @Test
    void aTargetThatFailsToStartEndsWithItsMigrationFailed()
    {
        final VmmRecord halting = step(startingTarget(), new Event.StartFailed("source unreachable"));
        final Transition down = apply(halting, new Event.ZoneTornDown());
        assertThat(down.next().vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(down.next().gen()).isEqualTo(REGISTERED_GEN + 1);
        assertThat(in(down.next())).isEqualTo(new MigrationRuntimeState(inId, MigrationState.FAILED, 2, now));
        assertThat(publishes(down.effects())).containsExactly(new Effect.Publish(down.next().current()));
    }

    // ---------------------------------------------------------------- 4. Destroyed with migration_out Finish

    @Test
    void aSuccessfulMigrationSourcePublishesTheMigrationAtOnceAndDestroyedOnceTheZoneIsGone()
    {
        final List<Effect.Publish> published = new ArrayList<>();
        VmmRecord record = registered();
        for (final Event event : List.of(new Event.RunRequested(), new Event.VmmStarted(),
            observed(1, PropolisInstanceState.Running),
            observed(2, PropolisInstanceState.Migrating, null, status(outId, PropolisMigrationState.Sync))))
        {
            final Transition t = apply(record, event);
            published.addAll(publishes(t.effects()));
            record = t.next();
        }
        final VmmRecord before = record;
        assertMigration(out(before), outId, MigrationState.IN_PROGRESS, 2);

        // Destroyed + Finish: the migration is news now (VMM state unchanged, gen + 1); "destroyed" waits.
        final Transition t = apply(before, observed(3, PropolisInstanceState.Destroyed, null,
            status(outId, PropolisMigrationState.Finish)));
        assertThat(t.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(t.next().vmmState()).isEqualTo(before.vmmState());
        assertThat(t.next().gen()).isEqualTo(before.gen() + 1);
        assertThat(out(t.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.COMPLETED, 3, now));
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()),
            new Effect.TearDownZone(false));
        published.addAll(publishes(t.effects()));

        final Transition down = apply(t.next(), new Event.ZoneTornDown());
        assertThat(down.next().phase()).isEqualTo(Phase.DONE);
        assertThat(down.next().vmmState()).isEqualTo(VmmState.DESTROYED);
        assertThat(down.next().gen()).isEqualTo(t.next().gen() + 1);
        assertThat(out(down.next())).isEqualTo(out(t.next()));
        assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
            new Effect.Publish(down.next().current()),
            new Effect.AnswerDeferred(down.next().current()));
        published.addAll(publishes(down.effects()));

        // running, migrating, completed, destroyed: one gen apart each.
        assertThat(published).extracting(p -> p.state().vmmState().gen())
            .containsExactly(REGISTERED_GEN + 1, REGISTERED_GEN + 2, REGISTERED_GEN + 3, REGISTERED_GEN + 4);
        assertThat(published).extracting(p -> p.state().vmmState().state())
            .containsExactly(VmmState.RUNNING, VmmState.MIGRATING, VmmState.MIGRATING, VmmState.DESTROYED);
    }

    @Test
    void destroyedWithAFinishedMigrationNeverSeenBeforeIsAFreshCompletedRecord()
    {
        final VmmRecord before = running();
        final Transition t = apply(before, observed(2, PropolisInstanceState.Destroyed, null,
            status(outId, PropolisMigrationState.Finish)));
        assertThat(out(t.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.COMPLETED,
            VmmLifecycle.FRESH_MIGRATION_GEN, now));
        assertThat(t.next().vmmState()).isEqualTo(VmmState.RUNNING);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()),
            new Effect.TearDownZone(false));
        final VmmRecord done = step(t.next(), new Event.ZoneTornDown());
        assertThat(done.vmmState()).isEqualTo(VmmState.DESTROYED);
        assertThat(out(done)).isEqualTo(out(t.next()));
    }

    @Test
    void destroyedWithoutMigrationNewsPublishesNothingUntilTheZoneIsGone()
    {
        final VmmRecord before = migratingOut(PropolisMigrationState.Sync);
        final Transition t = apply(before, observed(3, PropolisInstanceState.Destroyed, null,
            status(outId, PropolisMigrationState.Sync)));
        assertThat(t.next().current()).isEqualTo(before.current());
        assertThat(t.effects()).containsExactly(new Effect.TearDownZone(false));
        // The migration never finished: it ends failed.
        final VmmRecord done = step(t.next(), new Event.ZoneTornDown());
        assertMigration(out(done), outId, MigrationState.FAILED, 3);
    }

    @Test
    void propolisFailedWithAMigrationErrorPublishesTheFailedMigrationAtOnce()
    {
        final VmmRecord before = migratingOut(PropolisMigrationState.Sync);
        final Transition t = apply(before, observed(3, PropolisInstanceState.Failed, null,
            status(outId, PropolisMigrationState.Error)));
        assertThat(t.next().pendingTerminal()).isEqualTo(VmmState.FAILED);
        assertMigration(out(t.next()), outId, MigrationState.FAILED, 3);
        assertThat(t.effects()).containsExactly(new Effect.Publish(t.next().current()),
            new Effect.TearDownZone(false));
        final VmmRecord done = step(t.next(), new Event.ZoneTornDown());
        assertThat(done.vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(out(done)).isEqualTo(out(t.next()));
        assertThat(done.gen()).isEqualTo(t.next().gen() + 1);
    }

    // ---------------------------------------------------------------- 5. LastLook

    @Test
    void aLastLookWhileHaltingCompletesAnInProgressMigrationAndPublishesIt()
    {
        final VmmRecord halting = step(migratingOut(PropolisMigrationState.Sync),
            new Event.ForceTerminateRequested());
        assertThat(halting.phase()).isEqualTo(Phase.HALTING);

        final Transition look = apply(halting, lastLook(null, status(outId, PropolisMigrationState.Finish)));
        assertThat(look.next().phase()).isEqualTo(Phase.HALTING);
        assertThat(look.next().pendingTerminal()).isEqualTo(VmmState.DESTROYED);
        assertThat(look.next().vmmState()).isEqualTo(halting.vmmState());
        assertThat(look.next().gen()).isEqualTo(halting.gen() + 1);
        assertThat(out(look.next())).isEqualTo(new MigrationRuntimeState(outId, MigrationState.COMPLETED, 3, now));
        assertThat(look.effects()).containsExactly(new Effect.Publish(look.next().current()));
        assertThat(look.reply()).isNull();

        final Transition down = apply(look.next(), new Event.ZoneTornDown());
        assertThat(down.next().vmmState()).isEqualTo(VmmState.DESTROYED);
        assertThat(down.next().gen()).isEqualTo(look.next().gen() + 1);
        assertThat(out(down.next())).isEqualTo(out(look.next()));
        assertThat(down.effects()).containsExactly(new Effect.WriteBehind(),
            new Effect.Publish(down.next().current()),
            new Effect.AnswerDeferred(down.next().current()));
    }

    @Test
    void aLastLookCanCompleteAMigrationInOfAHaltingTarget()
    {
        final VmmRecord halting = step(activeTarget(), observed(1, PropolisInstanceState.Migrating,
            status(inId, PropolisMigrationState.Sync), null), new Event.StopRequested(), new Event.StopGraceExpired());
        assertThat(halting.phase()).isEqualTo(Phase.HALTING);
        final Transition look = apply(halting, lastLook(status(inId, PropolisMigrationState.Finish), null));
        assertMigration(in(look.next()), inId, MigrationState.COMPLETED, 3);
        assertThat(publishes(look.effects())).hasSize(1);
        assertMigration(in(step(look.next(), new Event.ZoneTornDown())), inId, MigrationState.COMPLETED, 3);
    }

    @Test
    void aLastLookWithNothingNewChangesNothing()
    {
        final VmmRecord halting = step(migratingOut(PropolisMigrationState.Sync),
            new Event.ForceTerminateRequested());
        assertNoOp(halting, lastLook(null, status(outId, PropolisMigrationState.Sync)));
        assertNoOp(halting, lastLook(null, status(outId, PropolisMigrationState.RamPull)));
        assertNoOp(halting, new Event.LastLook(new sledagent.api.propolis.InstanceStateMonitorResponse(9,
            PropolisInstanceState.Running, InstanceMigrateStatusResponse.NONE)));
    }

    @Test
    void aLastLookCannotUndoACompletedMigration()
    {
        final VmmRecord halting = step(migratingOut(PropolisMigrationState.Finish),
            new Event.ForceTerminateRequested());
        assertNoOp(halting, lastLook(null, status(outId, PropolisMigrationState.Error)));
        assertNoOp(halting, lastLook(null, status(outId, PropolisMigrationState.Sync)));
    }

    @Test
    void aLastLookWithAnErrorFailsTheMigrationAndItStaysFailed()
    {
        final VmmRecord halting = step(migratingOut(PropolisMigrationState.Sync),
            new Event.ForceTerminateRequested());
        final Transition look = apply(halting, lastLook(null, status(outId, PropolisMigrationState.Error)));
        assertMigration(out(look.next()), outId, MigrationState.FAILED, 3);
        assertThat(look.effects()).containsExactly(new Effect.Publish(look.next().current()));
        final VmmRecord done = step(look.next(), new Event.ZoneTornDown());
        assertThat(out(done)).isEqualTo(out(look.next()));
    }

    /** Whatever the last look says, nothing is published for a VMM Nexus took back. */
    @Test
    void aLastLookForAVmmNexusTookBackPublishesNothing()
    {
        final VmmRecord unregistered = step(migratingOut(PropolisMigrationState.Sync),
            new Event.UnregisterRequested());
        assertThat(unregistered.owner()).isEqualTo(Owner.NEXUS);
        assertThat(unregistered.phase()).isEqualTo(Phase.HALTING);
        final Transition look = apply(unregistered, lastLook(null, status(outId, PropolisMigrationState.Finish)));
        assertThat(publishes(look.effects())).isEmpty();
        final Transition down = apply(look.next(), new Event.ZoneTornDown());
        assertThat(publishes(down.effects())).isEmpty();
        assertThat(down.next().vmmState()).isEqualTo(VmmState.FAILED);
    }

    /**
     * DESIGN.md rule 5 and {@link Event.LastLook}: the last look exists so that a migration that completed is
     * reported completed, not failed; an unregister of an ACTIVE VMM asks for one (TearDownZone(true)) and defers
     * its reply until the zone is gone. But onUnregister already failed the unfinished migration, so the last look
     * cannot save it and the deferred unregister reply says "failed" for a migration Propolis finished.
     */
    @Test
    void aLastLookAfterAnUnregisterStillSavesACompletedMigration()
    {
        final VmmRecord unregistered = step(migratingOut(PropolisMigrationState.Sync),
            new Event.UnregisterRequested());
        final Transition look = apply(unregistered, lastLook(null, status(outId, PropolisMigrationState.Finish)));
        assertThat(publishes(look.effects())).isEmpty();
        assertThat(out(look.next()).state()).isEqualTo(MigrationState.COMPLETED);
        final Transition down = apply(look.next(), new Event.ZoneTornDown());
        assertThat(down.next().vmmState()).isEqualTo(VmmState.FAILED);
        assertThat(out(down.next()).state()).isEqualTo(MigrationState.COMPLETED);
        assertThat(down.effects()).contains(new Effect.AnswerDeferred(down.next().current()));
        assertThat(publishes(down.effects())).isEmpty();
    }

    @Test
    void aLastLookOutsideHaltingIsANoOp()
    {
        final Event finish = lastLook(status(inId, PropolisMigrationState.Finish),
            status(outId, PropolisMigrationState.Finish));
        final Event error = lastLook(status(inId, PropolisMigrationState.Error),
            status(outId, PropolisMigrationState.Error));
        final VmmRecord doneMigrating = step(migratingOut(PropolisMigrationState.Sync),
            new Event.ForceTerminateRequested(), new Event.ZoneTornDown());
        final VmmRecord doneUnregistered = step(migratingOut(PropolisMigrationState.Sync),
            new Event.UnregisterRequested(), new Event.ZoneTornDown());
        for (final VmmRecord record : List.of(registered(), registeredTarget(), startingTarget(), activeTarget(),
            running(), migratingOut(PropolisMigrationState.Sync), doneMigrating, doneUnregistered))
        {
            assertThat(record.phase()).isNotEqualTo(Phase.HALTING);
            assertNoOp(record, finish);
            assertNoOp(record, error);
        }
    }

    // ---------------------------------------------------------------- 6. TearDownZone's last-look flag

    @Test
    void aLastLookIsTakenWhenAnActiveVmmIsKilledWhileAMigrationMayBeUnderWay()
    {
        final List<List<Object>> cases = List.of(
            List.of("force-terminate migrating", migratingOut(PropolisMigrationState.Sync),
                new Event.ForceTerminateRequested()),
            List.of("unregister migrating", migratingOut(PropolisMigrationState.Sync), new Event.UnregisterRequested()),
            List.of("stop grace expired migrating", step(migratingOut(PropolisMigrationState.Sync),
                new Event.StopRequested()), new Event.StopGraceExpired()),
            List.of("Propolis lost the VM migrating", migratingOut(PropolisMigrationState.Sync),
                new Event.PropolisLost("NoInstance")),
            List.of("target force-terminated", activeTarget(), new Event.ForceTerminateRequested()));
        for (final List<Object> c : cases)
        {
            final Transition t = apply((VmmRecord)c.get(1), (Event)c.get(2));
            assertThat(t.next().phase()).as("%s", c.get(0)).isEqualTo(Phase.HALTING);
            assertThat(tearDowns(t.effects())).as("%s", c.get(0)).containsExactly(new Effect.TearDownZone(true));
        }
    }

    @Test
    void noLastLookWhenNoMigrationCanBeUnderWay()
    {
        // The look can only change a migration's outcome; without one it would only delay the kill.
        final VmmRecord notObserved = step(registered(), new Event.RunRequested(), new Event.VmmStarted());
        final VmmRecord stopping = step(running(), new Event.StopRequested());
        final List<List<Object>> cases = List.of(
            List.of("force-terminate running", running(), new Event.ForceTerminateRequested()),
            List.of("force-terminate, nothing observed yet", notObserved, new Event.ForceTerminateRequested()),
            List.of("stop grace expired", stopping, new Event.StopGraceExpired()),
            List.of("unregister", running(), new Event.UnregisterRequested()),
            List.of("Propolis lost the VM", running(), new Event.PropolisLost("NoInstance")));
        for (final List<Object> c : cases)
        {
            final Transition t = apply((VmmRecord)c.get(1), (Event)c.get(2));
            assertThat(tearDowns(t.effects())).as("%s", c.get(0)).containsExactly(new Effect.TearDownZone(false));
        }
    }

    @Test
    void noLastLookWhenTheProcessIsGoneTheVmmWasStartingOrPropolisSaidItHalted()
    {
        final VmmRecord stopping = step(running(), new Event.StopRequested());
        final List<List<Object>> cases = new ArrayList<>(List.of(
            List.of("process exited", running(), new Event.ProcessExited()),
            List.of("process exited while stopping", stopping, new Event.ProcessExited()),
            List.of("process exited migrating", migratingOut(PropolisMigrationState.Sync), new Event.ProcessExited()),
            List.of("Propolis Destroyed", running(), observed(2, PropolisInstanceState.Destroyed)),
            List.of("Propolis Failed", running(), observed(2, PropolisInstanceState.Failed)),
            List.of("Propolis Destroyed after a stop", stopping, observed(3, PropolisInstanceState.Destroyed)),
            List.of("Propolis Destroyed with migration Finish", migratingOut(PropolisMigrationState.Sync),
                observed(3, PropolisInstanceState.Destroyed, null, status(outId, PropolisMigrationState.Finish)))));
        for (final VmmRecord starting : List.of(step(registered(), new Event.RunRequested()), startingTarget()))
        {
            for (final Event event : List.of(new Event.StartFailed("x"), new Event.StopRequested(),
                new Event.ForceTerminateRequested(), new Event.UnregisterRequested(), new Event.StopGraceExpired(),
                new Event.PropolisLost("x"), new Event.ProcessExited()))
            {
                cases.add(List.of("starting: " + event, starting, event));
            }
        }
        for (final List<Object> c : cases)
        {
            final Transition t = apply((VmmRecord)c.get(1), (Event)c.get(2));
            assertThat(t.next().phase()).as("%s", c.get(0)).isEqualTo(Phase.HALTING);
            assertThat(tearDowns(t.effects())).as("%s", c.get(0)).containsExactly(new Effect.TearDownZone(false));
        }
    }
}
