package sledagent.zones;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one contract every {@link ZoneBackend} keeps; each backend has a subclass that says how to build it and
 * what it can do. Each test gets a fresh backend; {@link #tearDownBackend()} sweeps it the way the agent does
 * (kill, wait, destroy every listed zone), SIGKILLs any main process still alive, closes the backend and then
 * lets the subclass remove what is left ({@link #cleanUp()}), even when the test failed.
 */
public abstract class ZoneBackendContract
{
    protected static final Duration PROMPTLY = Duration.ofSeconds(2);
    protected static final Duration POLL = Duration.ofMillis(5);
    protected static final int SIGKILL = 9;

    @TempDir
    protected Path tmp;

    protected ZoneBackend backend;

    private final List<ZoneProcess> handles = new ArrayList<>();

    /** A new backend for one test; call {@code assumeTrue} here to skip where it cannot run. */
    protected abstract ZoneBackend newBackend() throws Exception;

    /** Removes whatever the backend left outside itself (cgroups, stand-in state); runs after close. */
    protected void cleanUp() throws Exception
    {
    }

    /** True if spawned programs really run, so a process tree can be checked from /proc. */
    protected boolean supportsRealProcesses()
    {
        return true;
    }

    /** True if a zone is empty once its only main process has exited by itself (false on illumos: it stays booted). */
    protected boolean emptiesWhenMainExits()
    {
        return true;
    }

    /** True if the backend stores owner marks ({@link ZoneBackend#markOwner}); false: zones stay unmarked. */
    protected boolean supportsOwnerMarks()
    {
        return true;
    }

    /**
     * True if {@link ZoneBackend#adopt} takes hold again of a main process an earlier agent run spawned: cgroup and
     * illumos, whose zones outlive the agent. False for pgroup and fake, whose zones live only in the backend
     * object: a restarted agent cannot even open them (so recovery never asks), and {@code adopt} refuses.
     */
    protected boolean supportsAdoption()
    {
        return true;
    }

    /** Puts something that is not one of our zones where {@link ZoneBackend#list()} looks, if the backend can. */
    protected void plantForeignZone(final String name) throws Exception
    {
    }

    /**
     * Makes {@code zone} stay populated whatever is killed, if the backend can be told to (a process stuck in the
     * kernel); false: it cannot, and the test that needs it is skipped.
     */
    protected boolean holdPopulated(final Zone zone, final boolean held)
    {
        return false;
    }

    /** Makes a process spawned with {@link #exitingSoon()} exit (the fake needs the test to say so). */
    protected void letExit(final ZoneProcess process)
    {
    }

    /** A main process that runs until killed. */
    protected List<String> longRunning()
    {
        return sh("exec sleep 1000");
    }

    /** A main process that exits by itself shortly. */
    protected List<String> exitingSoon()
    {
        return sh("sleep 0.05; exit 3");
    }

    @BeforeEach
    void setUpBackend() throws Exception
    {
        backend = newBackend();
    }

    @AfterEach
    void tearDownBackend() throws Exception
    {
        try
        {
            if (backend != null)
            {
                sweep();
            }
        }
        finally
        {
            for (final ZoneProcess handle : handles)
            {
                try
                {
                    handle.signal(SIGKILL);
                }
                catch (final RuntimeException ex)
                {
                    // Already closed or exited: nothing to do.
                }
                handle.close();
            }
            if (backend != null)
            {
                backend.close();
            }
            cleanUp();
        }
    }

    @Test
    void shouldCreateIdempotentlyAndOpenAndList()
    {
        final Zone first = backend.create(zoneName("twice"));
        final Zone second = backend.create(zoneName("twice"));

        assertThat(second).isEqualTo(first);
        assertThat(first.name()).isEqualTo(zoneName("twice"));
        assertThat(backend.open(first.name())).isEqualTo(first);
        assertThat(backend.open(zoneName("missing"))).isNull();
        assertThat(backend.list()).containsExactly(first.name());
        assertThat(backend.isEmpty(first)).isTrue();
        assertThat(backend.name()).isNotBlank();
    }

    @Test
    void shouldStoreOwnerMarkPerZoneAndForgetItWithTheZone()
    {
        final Zone marked = backend.create(zoneName("marked"));
        final Zone unmarked = backend.create(zoneName("unmarked"));
        assertThat(backend.owner(marked)).as("a new zone has no mark").isNull();

        final boolean stored = backend.markOwner(marked, "agent-1.a_b");

        assertThat(stored).isEqualTo(supportsOwnerMarks());
        assertThat(backend.owner(marked)).isEqualTo(stored ? "agent-1.a_b" : null);
        assertThat(backend.owner(unmarked)).isNull();
        if (stored)
        {
            backend.markOwner(marked, "agent-2");
            assertThat(backend.owner(marked)).as("a mark is replaced").isEqualTo("agent-2");
        }
        for (final String bad : new String[] {"", "a/b", "a b", "x".repeat(65), "caf\u00e9"})
        {
            assertThatThrownBy(() -> backend.markOwner(marked, bad)).as(bad)
                .isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> backend.markOwner(marked, null)).isInstanceOf(IllegalArgumentException.class);

        backend.destroy(marked);
        assertThat(backend.owner(marked)).as("gone with its zone").isNull();
        final Zone again = backend.create(marked.name());
        assertThat(backend.owner(again)).as("a zone made again starts unmarked").isNull();
    }

    @Test
    void shouldListOnlyPrefixedZones() throws Exception
    {
        plantForeignZone("not-a-zone");
        backend.create(zoneName("b"));
        backend.create(zoneName("a"));

        assertThat(backend.list()).containsExactly(zoneName("a"), zoneName("b"));
    }

    @Test
    void shouldRefuseNamesWithoutPrefix()
    {
        for (final String bad : List.of("not-a-zone", ZoneBackend.ZONE_PREFIX, ZoneBackend.ZONE_PREFIX + "../x",
            ZoneBackend.ZONE_PREFIX + "a/b", ZoneBackend.ZONE_PREFIX + "a b", "x" + ZoneBackend.ZONE_PREFIX + "a"))
        {
            assertThatThrownBy(() -> backend.create(bad)).as(bad).isInstanceOf(ZoneException.class);
            assertThatThrownBy(() -> backend.open(bad)).as(bad).isInstanceOf(ZoneException.class);
        }
        final Zone bad = new Zone("not-a-zone", null);
        assertThatThrownBy(() -> backend.killAll(bad)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.isEmpty(bad)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.awaitEmpty(bad, Duration.ZERO)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.destroy(bad)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.spawn(bad, longRunning(), tmp.resolve("bad.log")))
            .isInstanceOf(ZoneException.class);
        assertThat(backend.list()).isEmpty();
    }

    @Test
    void shouldSpawnKillAwaitEmptyAndDestroy() throws Exception
    {
        final Zone zone = backend.create(zoneName("main"));
        final ZoneProcess main = spawn(zone, longRunning());

        assertThat(main.isAlive()).isTrue();
        assertThat(main.exited()).isNotDone();
        assertThat(backend.isEmpty(zone)).isFalse();
        assertThatThrownBy(() -> backend.destroy(zone))
            .isInstanceOfSatisfying(ZoneException.class, ex -> assertThat(ex.errno()).isEqualTo(ZoneException.EBUSY));
        assertThat(backend.list()).containsExactly(zone.name());

        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(main.isAlive()).isFalse();
        assertThat(main.signal(SIGKILL)).isFalse();
        backend.destroy(zone);
        assertThat(backend.list()).doesNotContain(zone.name());
        assertThat(backend.open(zone.name())).isNull();
    }

    @Test
    void shouldKillForkingDoubleForkingAndSetsidTreeAndNothingElse() throws Exception
    {
        assumeTrue(supportsRealProcesses(), "the backend's processes are simulated");
        final Zone zone = backend.create(zoneName("tree"));
        final Zone bystander = backend.create(zoneName("bystander"));
        final ZoneProcess main = spawn(zone, sh("sleep 1000 & sleep 1000 & (sleep 1000 &); setsid sleep 1000 & wait"));
        final ZoneProcess other = spawn(bystander, longRunning());
        // Two children, one orphan (double fork) and one in a session of its own.
        await().atMost(PROMPTLY).pollInterval(POLL)
            .until(() -> TestProcesses.count(TestProcesses.tree(main.pid()), "sleep") == 4);
        final List<TestProcesses.ProcId> before = TestProcesses.tree(main.pid());
        assertThat(before).hasSizeGreaterThanOrEqualTo(5);

        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        backend.destroy(zone);
        assertThat(before).noneMatch(TestProcesses.ProcId::isRunning);
        assertThat(backend.list()).containsExactly(bystander.name());
        assertThat(other.isAlive()).isTrue();
        assertThat(backend.isEmpty(bystander)).isFalse();
    }

    @Test
    void shouldLeaveOtherZonesAloneWhenKilling() throws Exception
    {
        final Zone zone = backend.create(zoneName("victim"));
        final Zone bystander = backend.create(zoneName("bystander"));
        final ZoneProcess main = spawn(zone, longRunning());
        final ZoneProcess other = spawn(bystander, longRunning());

        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(other.isAlive()).isTrue();
        assertThat(backend.isEmpty(bystander)).isFalse();
    }

    @Test
    void shouldCompleteExitedWhenMainProcessExitsByItself() throws Exception
    {
        final Zone zone = backend.create(zoneName("exits"));
        final ZoneProcess main = spawn(zone, exitingSoon());

        letExit(main);

        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(main.isAlive()).isFalse();
        assertThat(main.signal(SIGKILL)).isFalse();
        if (emptiesWhenMainExits())
        {
            assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
            backend.destroy(zone);
        }
    }

    @Test
    void shouldReturnFalseWhenZoneDoesNotEmptyWithinBound() throws Exception
    {
        final Zone zone = backend.create(zoneName("bounded"));
        final Zone empty = backend.create(zoneName("empty"));
        spawn(zone, longRunning());

        final long startNs = System.nanoTime();
        final boolean emptied = backend.awaitEmpty(zone, Duration.ofMillis(100));
        final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);

        assertThat(emptied).isFalse();
        assertThat(elapsedMs).isBetween(100L, 1500L);
        assertThat(backend.awaitEmpty(zone, Duration.ZERO)).isFalse();
        assertThat(backend.awaitEmpty(empty, Duration.ZERO)).isTrue();
    }

    @Test
    void shouldKillIdempotentlyAndTreatMissingZoneAsEmptyAndDestroyed() throws Exception
    {
        final Zone zone = backend.create(zoneName("idem"));
        backend.killAll(zone);
        spawn(zone, longRunning());

        backend.killAll(zone);
        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        backend.killAll(zone);
        backend.destroy(zone);
        backend.destroy(zone);

        backend.killAll(zone);
        assertThat(backend.isEmpty(zone)).isTrue();
        assertThat(backend.awaitEmpty(zone, Duration.ZERO)).isTrue();
        assertThat(backend.open(zone.name())).isNull();
        assertThatThrownBy(() -> backend.spawn(zone, longRunning(), tmp.resolve("gone.log")))
            .isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldKillAndRemoveZoneAndNothingElseAndRepeat() throws Exception
    {
        final Zone zone = backend.create(zoneName("reaped"));
        final Zone bystander = backend.create(zoneName("bystander"));
        final Zone idle = backend.create(zoneName("idle"));
        final ZoneProcess main = spawn(zone, longRunning());
        final ZoneProcess other = spawn(bystander, longRunning());

        assertThat(backend.killAndRemove(zone, PROMPTLY)).isTrue();

        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(backend.open(zone.name())).isNull();
        assertThat(backend.killAndRemove(zone, Duration.ZERO)).as("a zone already gone counts as removed").isTrue();
        assertThat(backend.killAndRemove(idle, PROMPTLY)).as("a zone with no process").isTrue();
        assertThat(backend.list()).containsExactly(bystander.name());
        assertThat(other.isAlive()).isTrue();
        assertThat(backend.isEmpty(bystander)).isFalse();
    }

    @Test
    void shouldKillButLeaveZoneThatDoesNotEmptyWithinBound() throws Exception
    {
        final Zone zone = backend.create(zoneName("stuck"));
        spawn(zone, longRunning());
        assumeTrue(holdPopulated(zone, true), "the backend cannot keep a zone populated");

        assertThat(backend.killAndRemove(zone, Duration.ofMillis(50))).isFalse();
        assertThat(backend.list()).as("left for a later call").containsExactly(zone.name());
        assertThat(backend.killAndRemoveAll(Duration.ofMillis(50))).containsExactly(zone.name());

        holdPopulated(zone, false);
        assertThat(backend.killAndRemove(zone, PROMPTLY)).isTrue();
        assertThat(backend.list()).isEmpty();
    }

    @Test
    void shouldKillAndRemoveEveryListedZone() throws Exception
    {
        plantForeignZone("not-a-zone");
        final ZoneProcess first = spawn(backend.create(zoneName("one")), longRunning());
        final ZoneProcess second = spawn(backend.create(zoneName("two")), longRunning());
        backend.create(zoneName("three"));

        assertThat(backend.killAndRemoveAll(PROMPTLY)).isEmpty();

        assertThat(backend.list()).isEmpty();
        first.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        second.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void shouldAdoptOnlyTheSameLiveMainProcessOfAZoneThatHoldsIt() throws Exception
    {
        final Zone zone = backend.create(zoneName("adopt"));
        final Zone empty = backend.create(zoneName("empty"));
        final ZoneProcess main = spawn(zone, longRunning());
        if (!supportsAdoption())
        {
            assertThatThrownBy(() -> backend.adopt(zone, main.pid(), main.startTicks()))
                .isInstanceOf(ZoneException.class);
            return;
        }
        assertThat(main.startTicks()).as("an identity to adopt by").isPositive();

        final ZoneProcess adopted = backend.adopt(zone, main.pid(), main.startTicks());

        assertThat(adopted).isNotNull();
        handles.add(adopted);
        assertThat(adopted.pid()).isEqualTo(main.pid());
        assertThat(adopted.startTicks()).isEqualTo(main.startTicks());
        assertThat(adopted.isAlive()).isTrue();
        assertThat(adopted.exited()).isNotDone();
        assertThat(backend.adopt(zone, main.pid(), main.startTicks() + 1)).as("another start: a recycled pid").isNull();
        assertThat(backend.adopt(zone, main.pid(), 0)).as("no start time recorded").isNull();
        assertThat(backend.adopt(zone, 0, main.startTicks())).isNull();
        assertThat(backend.adopt(empty, main.pid(), main.startTicks())).as("a zone that holds nothing").isNull();

        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        adopted.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(adopted.isAlive()).isFalse();
        assertThat(adopted.signal(SIGKILL)).isFalse();
        assertThat(backend.adopt(zone, main.pid(), main.startTicks())).as("exited").isNull();
    }

    @Test
    void shouldNotPassTheServiceManagersVariablesToAZonesProcess() throws Exception
    {
        assumeTrue(supportsRealProcesses(), "the backend's processes are simulated");
        // zones/pom.xml runs the tests with systemd's variables set, as the agent has them under systemd.
        assertThat(System.getenv()).containsKeys(VmmEnvironment.SERVICE_MANAGER_VARIABLES.toArray(new String[0]))
            .containsEntry("SLED_AGENT_TEST_INHERITED", "yes");
        final Zone zone = backend.create(zoneName("env"));

        final ZoneProcess main = spawn(zone, List.of("env"));

        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        final List<String> printed = java.nio.file.Files.readAllLines(logOf(zone));
        assertThat(printed).as("the rest of the environment is inherited").contains("SLED_AGENT_TEST_INHERITED=yes");
        assertThat(printed).as("the service manager's channel is the agent's alone").noneMatch(line ->
            VmmEnvironment.SERVICE_MANAGER_VARIABLES.stream().anyMatch(name -> line.startsWith(name + "=")));
    }

    /** Spawns and remembers the handle for the tear-down. */
    protected final ZoneProcess spawn(final Zone zone, final List<String> argv)
    {
        final ZoneProcess process = backend.spawn(zone, argv, logOf(zone));
        handles.add(process);
        return process;
    }

    /** Where {@link #spawn} sends a zone's output. */
    protected final Path logOf(final Zone zone)
    {
        return tmp.resolve("logs").resolve(zone.name() + ".log");
    }

    protected static List<String> sh(final String script)
    {
        return List.of("/bin/sh", "-c", script);
    }

    protected static String zoneName(final String suffix)
    {
        return ZoneBackend.ZONE_PREFIX + suffix;
    }

    /** What the agent does at start: every listed zone is killed, waited for and destroyed. */
    private void sweep() throws InterruptedException
    {
        for (final String name : backend.list())
        {
            final Zone zone = backend.open(name);
            if (zone != null)
            {
                holdPopulated(zone, false);
                assertThat(backend.killAndRemove(zone, PROMPTLY)).as("sweep of " + name).isTrue();
            }
        }
    }
}
