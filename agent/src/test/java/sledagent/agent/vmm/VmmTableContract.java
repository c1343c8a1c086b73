package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What {@link VmmManager} and the readers (HTTP listing, shutdown) rely on from a {@link VmmTable}, run against
 * every implementation by one subclass each, so that the table the agent uses and the one a benchmark compares
 * it with cannot drift apart. The actors are real, made by a throw-away manager; the table under test holds
 * them by identity.
 */
abstract class VmmTableContract
{
    private VmmManager source;
    private VmmTable table;

    /** A new, empty table of the implementation under test. */
    abstract VmmTable newTable();

    @BeforeEach
    void setUp()
    {
        source = new VmmManager(new ConcurrentVmmTable(), new FakeExecutor(), new FakeVmmDriver(),
            new FakeClock(Instant.parse("2026-11-24T01:00:00Z")));
        table = newTable();
    }

    /** A fresh actor for {@code propolisId}, registered in the source manager, not in the table under test. */
    private VmmActor actor(final UUID propolisId)
    {
        source.register(propolisId, LifecycleFixtures.body(UUID.randomUUID(), LifecycleFixtures.REGISTERED_GEN));
        final VmmActor actor = source.table().get(propolisId);
        // Released from the source so that the next actor for the same id is a different object.
        source.table().remove(propolisId, actor);
        return actor;
    }

    @Test
    void shouldStartEmpty()
    {
        assertThat(table.size()).isZero();
        assertThat(table.actors()).isEmpty();
        assertThat(table.get(UUID.randomUUID())).isNull();
    }

    @Test
    void shouldPutOnlyIfAbsentAndKeepTheFirst()
    {
        final UUID id = UUID.randomUUID();
        final VmmActor first = actor(id);
        final VmmActor second = actor(id);
        assertThat(second).isNotSameAs(first);

        assertThat(table.putIfAbsent(id, first)).isNull();
        assertThat(table.get(id)).isSameAs(first);
        assertThat(table.putIfAbsent(id, second)).isSameAs(first);
        assertThat(table.get(id)).isSameAs(first);
        assertThat(table.size()).isEqualTo(1);
        assertThat(table.actors()).containsExactly(first);
    }

    @Test
    void shouldRemoveOnlyTheSameActor()
    {
        final UUID id = UUID.randomUUID();
        final VmmActor old = actor(id);
        final VmmActor current = actor(id);
        assertThat(table.putIfAbsent(id, current)).isNull();

        // A finished actor removing itself after its id was registered again must not remove the new one.
        assertThat(table.remove(id, old)).isFalse();
        assertThat(table.get(id)).isSameAs(current);
        assertThat(table.remove(UUID.randomUUID(), current)).isFalse();
        assertThat(table.size()).isEqualTo(1);

        assertThat(table.remove(id, current)).isTrue();
        assertThat(table.get(id)).isNull();
        assertThat(table.size()).isZero();
        assertThat(table.actors()).isEmpty();
        assertThat(table.remove(id, current)).isFalse();

        // The id is free again.
        assertThat(table.putIfAbsent(id, old)).isNull();
        assertThat(table.get(id)).isSameAs(old);
    }

    @Test
    void shouldKeepManyIdsApart()
    {
        final List<VmmActor> actors = new ArrayList<>();
        for (int i = 0; i < 200; i++)
        {
            final VmmActor actor = actor(UUID.randomUUID());
            actors.add(actor);
            assertThat(table.putIfAbsent(actor.propolisId(), actor)).isNull();
        }
        assertThat(table.size()).isEqualTo(200);
        assertThat(table.actors()).containsExactlyInAnyOrderElementsOf(actors);
        for (final VmmActor actor : actors)
        {
            assertThat(table.get(actor.propolisId())).isSameAs(actor);
        }
    }

    @Test
    void shouldIterateWhileModifiedSeeingEveryUntouchedEntryOnce()
    {
        final List<VmmActor> kept = new ArrayList<>();
        final List<VmmActor> removed = new ArrayList<>();
        for (int i = 0; i < 100; i++)
        {
            final VmmActor actor = actor(UUID.randomUUID());
            table.putIfAbsent(actor.propolisId(), actor);
            (i % 2 == 0 ? kept : removed).add(actor);
        }
        final List<VmmActor> seen = new ArrayList<>();
        final Iterator<VmmActor> iterator = table.actors().iterator();
        int step = 0;
        while (iterator.hasNext())
        {
            seen.add(iterator.next());
            // Modified under the iterator, as the manager does while the HTTP listing walks the table: never a
            // ConcurrentModificationException, never an entry twice.
            if (step < removed.size())
            {
                final VmmActor gone = removed.get(step);
                table.remove(gone.propolisId(), gone);
                final VmmActor added = actor(UUID.randomUUID());
                table.putIfAbsent(added.propolisId(), added);
            }
            step++;
        }
        assertThat(seen).doesNotHaveDuplicates();
        assertThat(seen).containsAll(kept);
        assertThat(table.size()).isEqualTo(100);
        assertThat(table.actors()).containsAll(kept).doesNotContainAnyElementsOf(removed);
    }

    @Test
    void shouldBeALiveView()
    {
        final var view = table.actors();
        final VmmActor actor = actor(UUID.randomUUID());
        table.putIfAbsent(actor.propolisId(), actor);
        assertThat(view).containsExactly(actor);
        table.remove(actor.propolisId(), actor);
        assertThat(view).isEmpty();
    }

    @Test
    void shouldLetExactlyOneOfRacingPutsWin() throws Exception
    {
        final int threads = 4;
        final ExecutorService pool = Executors.newFixedThreadPool(threads);
        try
        {
            for (int round = 0; round < 50; round++)
            {
                final UUID id = UUID.randomUUID();
                final List<VmmActor> contenders = new ArrayList<>();
                for (int i = 0; i < threads; i++)
                {
                    contenders.add(actor(id));
                }
                final CountDownLatch go = new CountDownLatch(1);
                final List<Future<VmmActor>> results = new ArrayList<>();
                for (final VmmActor contender : contenders)
                {
                    results.add(pool.submit(() ->
                    {
                        go.await();
                        return table.putIfAbsent(id, contender);
                    }));
                }
                go.countDown();
                final Set<VmmActor> answers = new HashSet<>();
                int winners = 0;
                for (final Future<VmmActor> result : results)
                {
                    final VmmActor answer = result.get(10, TimeUnit.SECONDS);
                    if (answer == null)
                    {
                        winners++;
                    }
                    else
                    {
                        answers.add(answer);
                    }
                }
                final VmmActor winner = table.get(id);
                assertThat(winners).as("round %d", round).isEqualTo(1);
                // Every loser was told who won.
                assertThat(answers).containsOnly(winner);
                assertThat(contenders).contains(winner);
            }
            assertThat(table.size()).isEqualTo(50);
        }
        finally
        {
            pool.shutdownNow();
            assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
    }
}
