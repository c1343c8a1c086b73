package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;
import static sledagent.agent.vmm.LifecycleFixtures.REGISTERED_GEN;
import static sledagent.agent.vmm.LifecycleFixtures.body;
import static sledagent.agent.vmm.LifecycleFixtures.isRequest;
import static sledagent.agent.vmm.LifecycleFixtures.migrationTarget;
import static sledagent.agent.vmm.LifecycleFixtures.observed;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.propolis.InstanceMigrateStatusResponse;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.InstanceStateMonitorResponse;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;

/**
 * Random event sequences that include migration: targets and plain VMMs, {@code migration_target} requests,
 * Propolis observations with random migration statuses (new migration ids now and then, never an old one again,
 * as Propolis reports only its newest migration each way) and last looks. The invariants are checked after every
 * step. The master seed is printed; rerun one with {@code -Dlifecycle.seed=<seed>}.
 */
class VmmMigrationPropertyTest
{
    private static final Instant T0 = Instant.parse("2026-11-24T01:00:00Z");
    private static final int RUNS = 3000;

    private final UUID propolisId = UUID.randomUUID();
    private final UUID instanceId = UUID.randomUUID();

    /** Per run: the newest migration id Propolis reports each way, and the clock. */
    private static final class Walk
    {
        private final Random rnd;
        private UUID inId;
        private UUID outId;
        private long propolisGen;
        private Instant now = T0;

        private Walk(final Random rnd)
        {
            this.rnd = rnd;
        }
    }

    /** What the invariants remember about one migration side over a run. */
    private static final class Side
    {
        private final String name;
        private final Function<SledVmmState, MigrationRuntimeState> get;
        private final Set<UUID> replaced = new HashSet<>();
        private final Set<UUID> completed = new HashSet<>();
        private final Set<UUID> publishedCompleted = new HashSet<>();

        private Side(final String name, final Function<SledVmmState, MigrationRuntimeState> get)
        {
            this.name = name;
            this.get = get;
        }
    }

    @Test
    void randomSequencesWithMigrationsKeepTheInvariants()
    {
        final long master = Long.getLong("lifecycle.seed", System.nanoTime());
        System.out.println("VmmMigrationPropertyTest seed=" + master + " (rerun with -Dlifecycle.seed=" + master + ")");
        final Random seeds = new Random(master);
        final Map<String, Integer> ends = new TreeMap<>();
        for (int run = 0; run < RUNS; run++)
        {
            final long seed = seeds.nextLong();
            final List<Event> trace = new ArrayList<>();
            try
            {
                final VmmRecord last = randomRun(new Random(seed), trace);
                ends.merge(last.phase() + "/" + last.owner() + " in="
                    + migrationState(last.current().migrationIn()) + " out="
                    + migrationState(last.current().migrationOut()), 1, Integer::sum);
            }
            catch (final AssertionError ex)
            {
                throw new AssertionError("master seed " + master + ", run " + run + " (seed " + seed
                    + "), events " + trace + ": " + ex.getMessage(), ex);
            }
        }
        System.out.println("VmmMigrationPropertyTest ends: " + ends);
        // The walks reached terminal VMMs whose migrations ended each way (so the invariants were checked there).
        assertThat(ends.keySet()).anyMatch(k -> k.startsWith("DONE/AGENT ") && k.contains("=COMPLETED"))
            .anyMatch(k -> k.startsWith("DONE/AGENT ") && k.contains("=FAILED"))
            .anyMatch(k -> k.startsWith("DONE/NEXUS ") && k.contains("=FAILED"))
            .anyMatch(k -> k.startsWith("ACTIVE/") && k.contains("=IN_PROGRESS"))
            .anyMatch(k -> k.startsWith("HALTING/"));
    }

    private static String migrationState(final MigrationRuntimeState migration)
    {
        return migration == null ? "-" : migration.state().name();
    }

    private VmmRecord randomRun(final Random rnd, final List<Event> trace)
    {
        final Walk walk = new Walk(rnd);
        final boolean target = rnd.nextBoolean();
        walk.inId = target ? UUID.randomUUID() : null;
        VmmRecord record = VmmRecord.registered(propolisId, body(instanceId, REGISTERED_GEN, walk.inId), T0, 600_000);
        final List<Side> sides = List.of(new Side("migration_in", SledVmmState::migrationIn),
            new Side("migration_out", SledVmmState::migrationOut));
        long lastPublishedGen = REGISTERED_GEN;
        int terminalPublishes = 0;
        final int steps = 5 + rnd.nextInt(40);
        for (int i = 0; i < steps; i++)
        {
            final Event event = randomEvent(walk, record);
            trace.add(event);
            walk.now = walk.now.plusMillis(1 + rnd.nextInt(1000));
            final VmmRecord before = record;
            final Transition t = VmmLifecycle.apply(before, event, walk.now);
            final VmmRecord next = t.next();

            // The VMM gen rises by at most one, exactly when the state (VMM or a migration) changes.
            assertThat(next.gen()).isBetween(before.gen(), before.gen() + 1);
            final boolean changed = !next.current().equals(before.current());
            assertThat(next.gen() != before.gen()).as("gen moved iff the state did").isEqualTo(changed);
            if (changed)
            {
                assertThat(next.current().vmmState().timeUpdated()).isEqualTo(walk.now);
            }
            assertThat(next.phase().ordinal()).isGreaterThanOrEqualTo(before.phase().ordinal());

            // Each migration side separately.
            for (final Side side : sides)
            {
                checkSide(side, before, next, walk.now);
            }

            // Publishing: at most one, of the current state, exactly one VMM gen above the previous publish.
            final List<Effect.Publish> published = t.effects().stream().filter(Effect.Publish.class::isInstance)
                .map(Effect.Publish.class::cast).toList();
            assertThat(published).hasSizeLessThanOrEqualTo(1);
            for (final Effect.Publish publish : published)
            {
                assertThat(publish.state()).isEqualTo(next.current());
                assertThat(publish.state().vmmState().gen()).as("published gens are consecutive")
                    .isEqualTo(lastPublishedGen + 1);
                lastPublishedGen = publish.state().vmmState().gen();
                assertThat(next.owner()).isEqualTo(Owner.AGENT);
                if (publish.state().vmmState().state().isTerminal())
                {
                    terminalPublishes++;
                    assertThat(next.phase()).isEqualTo(Phase.DONE);
                }
                for (final Side side : sides)
                {
                    final MigrationRuntimeState migration = side.get.apply(publish.state());
                    if (migration != null && migration.state() == MigrationState.COMPLETED)
                    {
                        side.publishedCompleted.add(migration.migrationId());
                    }
                    else if (migration != null)
                    {
                        assertThat(side.publishedCompleted).as("%s published completed, then %s", side.name,
                            migration.state()).doesNotContain(migration.migrationId());
                    }
                }
            }
            assertThat(terminalPublishes).as("terminal publishes").isLessThanOrEqualTo(1);
            if (next.owner() == Owner.AGENT && changed)
            {
                assertThat(published).as("every change the agent owns is published").hasSize(1);
            }

            // A last look only ever matters while HALTING; otherwise it is a no-op.
            if (event instanceof Event.LastLook && before.phase() != Phase.HALTING)
            {
                assertThat(next).isEqualTo(before);
                assertThat(t.effects()).isEmpty();
            }
            // Nothing changes once DONE but the owner; a DONE VMM's migrations are all finished.
            if (before.phase() == Phase.DONE)
            {
                assertThat(next.withOwner(before.owner()).withAckedGen(before.ackedGen())).isEqualTo(before);
            }
            if (next.phase() == Phase.DONE)
            {
                assertThat(next.vmmState().isTerminal()).isTrue();
                for (final Side side : sides)
                {
                    final MigrationRuntimeState migration = side.get.apply(next.current());
                    assertThat(migration == null || migration.state().isTerminal())
                        .as("%s of a DONE VMM: %s", side.name, migration).isTrue();
                }
            }

            // The last look is asked for exactly when an ACTIVE VMM is killed while its process may answer.
            for (final Effect effect : t.effects())
            {
                if (effect instanceof Effect.TearDownZone tearDown)
                {
                    final PropolisInstanceState last = before.lastPropolisState();
                    final boolean migrationMayRun = (last == null || !last.isHalted())
                        && (last == PropolisInstanceState.Migrating
                            || unfinishedMigration(before.current().migrationIn())
                            || unfinishedMigration(before.current().migrationOut()));
                    final boolean expected = before.phase() == Phase.ACTIVE && !(event instanceof Event.ProcessExited)
                        && !(event instanceof Event.PropolisObserved) && migrationMayRun;
                    assertThat(tearDown.lastLook()).as("last look on %s in %s", event, before.phase())
                        .isEqualTo(expected);
                }
                else if (effect instanceof Effect.StartVmm start)
                {
                    assertThat(start.migrationSourceAddr() != null)
                        .isEqualTo(event instanceof Event.MigrationTargetRequested);
                    if (start.migrationSourceAddr() != null)
                    {
                        assertThat(before.registration().migrationId()).isNotNull();
                    }
                }
            }
            if (isRequest(event))
            {
                assertThat(t.reply()).isNotNull();
            }
            else
            {
                assertThat(t.reply()).isNull();
            }
            record = next;
        }
        return record;
    }

    private static void checkSide(final Side side, final VmmRecord before, final VmmRecord next, final Instant now)
    {
        final MigrationRuntimeState was = side.get.apply(before.current());
        final MigrationRuntimeState is = side.get.apply(next.current());
        if (is == null)
        {
            assertThat(was).as("%s disappeared", side.name).isNull();
            return;
        }
        assertThat(side.replaced).as("%s came back to a replaced migration", side.name)
            .doesNotContain(is.migrationId());
        if (was != null && was.migrationId().equals(is.migrationId()))
        {
            assertThat(is.gen()).as("%s gen never falls, rises by one", side.name)
                .isBetween(was.gen(), was.gen() + 1);
            if (is.gen() == was.gen())
            {
                assertThat(is).isEqualTo(was);
            }
            else
            {
                assertThat(is.state()).isNotEqualTo(was.state());
                assertThat(is.timeUpdated()).isEqualTo(now);
            }
            if (was.state().isTerminal())
            {
                assertThat(is).as("%s finished, then changed", side.name).isEqualTo(was);
            }
        }
        else
        {
            if (was != null)
            {
                side.replaced.add(was.migrationId());
            }
            assertThat(is.gen()).as("%s fresh record", side.name).isEqualTo(VmmLifecycle.FRESH_MIGRATION_GEN);
            assertThat(is.timeUpdated()).isEqualTo(now);
        }
        if (side.completed.contains(is.migrationId()))
        {
            assertThat(is.state()).as("%s seen completed, then", side.name).isEqualTo(MigrationState.COMPLETED);
        }
        if (is.state() == MigrationState.COMPLETED)
        {
            side.completed.add(is.migrationId());
        }
    }

    private static Event randomEvent(final Walk walk, final VmmRecord record)
    {
        final Random rnd = walk.rnd;
        final long propolisGen = walk.propolisGen++;
        return switch (rnd.nextInt(24))
        {
            case 0 -> new Event.RunRequested();
            case 1, 2 -> record.registration().migrationId() != null || rnd.nextInt(4) == 0 ? migrationTarget()
                : new Event.RunRequested();
            case 3 -> new Event.StopRequested();
            case 4 -> new Event.RebootRequested();
            case 5 -> rnd.nextInt(3) == 0 ? new Event.UnregisterRequested() : new Event.RunRequested();
            case 6 -> rnd.nextInt(2) == 0 ? new Event.ForceTerminateRequested() : new Event.StopRequested();
            case 7, 8 -> new Event.VmmStarted();
            case 9 -> rnd.nextInt(3) == 0 ? new Event.StartFailed("random") : new Event.VmmStarted();
            case 10, 11, 12, 13, 14 ->
            {
                final PropolisInstanceState[] states = PropolisInstanceState.values();
                PropolisInstanceState state = states[rnd.nextInt(states.length)];
                if (state.isHalted() && rnd.nextBoolean())
                {
                    state = PropolisInstanceState.Migrating;
                }
                yield new Event.PropolisObserved(new InstanceStateMonitorResponse(propolisGen, state,
                    randomMigrations(walk)));
            }
            case 15 -> rnd.nextInt(3) == 0 ? new Event.PropolisLost("random")
                : observed(propolisGen, PropolisInstanceState.Stopped);
            case 16 -> rnd.nextInt(3) == 0 ? new Event.ProcessExited()
                : observed(propolisGen, PropolisInstanceState.Running);
            case 17 -> new Event.StopGraceExpired();
            case 18, 19 -> new Event.LastLook(new InstanceStateMonitorResponse(propolisGen,
                PropolisInstanceState.Running, randomMigrations(walk)));
            case 20 -> new Event.ZoneTornDown();
            case 21 -> rnd.nextBoolean() ? new Event.ZoneTornDown() : new Event.ZoneTeardownFailed("random");
            default -> new Event.PublishSettled(record.gen() - 1 + rnd.nextInt(3));
        };
    }

    private static InstanceMigrateStatusResponse randomMigrations(final Walk walk)
    {
        final Random rnd = walk.rnd;
        if (rnd.nextInt(4) == 0)
        {
            return InstanceMigrateStatusResponse.NONE;
        }
        InstanceMigrationStatus in = null;
        InstanceMigrationStatus out = null;
        if (walk.inId != null && rnd.nextInt(3) != 0)
        {
            if (rnd.nextInt(12) == 0)
            {
                walk.inId = UUID.randomUUID();
            }
            in = new InstanceMigrationStatus(walk.inId, randomPhase(rnd));
        }
        if (rnd.nextInt(3) == 0)
        {
            if (walk.outId == null || rnd.nextInt(6) == 0)
            {
                walk.outId = UUID.randomUUID();
            }
            out = new InstanceMigrationStatus(walk.outId, randomPhase(rnd));
        }
        return new InstanceMigrateStatusResponse(in, out);
    }

    private static PropolisMigrationState randomPhase(final Random rnd)
    {
        final PropolisMigrationState[] phases = PropolisMigrationState.values();
        return phases[rnd.nextInt(phases.length)];
    }

    private static boolean unfinishedMigration(final sledagent.api.MigrationRuntimeState migration)
    {
        return migration != null && !migration.state().isTerminal();
    }
}
