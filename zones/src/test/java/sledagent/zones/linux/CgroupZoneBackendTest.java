package sledagent.zones.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * Real processes in real cgroups (needs root and cgroup v2). Each test has its own zone root, and
 * {@link #cleanUp()} kills and removes everything under it even when the test fails.
 */
class CgroupZoneBackendTest
{
    private static final Duration PROMPTLY = Duration.ofSeconds(2);
    private static final Duration POLL = Duration.ofMillis(5);
    private static final String SIGKILL_NAME = "-9";

    private final List<ZoneBackend> backends = new ArrayList<>();
    private final List<ZoneProcess> handles = new ArrayList<>();
    private Path root;
    private CgroupZoneBackend backend;

    @TempDir
    Path tmp;

    @BeforeEach
    void setUp()
    {
        assumeTrue(TestCgroups.available(), "needs root and a writable cgroup v2 mount");
        root = TestCgroups.uniqueRoot();
        backend = newBackend();
    }

    @AfterEach
    void cleanUp() throws IOException
    {
        handles.forEach(ZoneProcess::close);
        backends.forEach(ZoneBackend::close);
        if (root != null)
        {
            TestCgroups.removeAll(root);
            assertThat(root).doesNotExist();
        }
    }

    @Test
    void shouldKillForkingTreeDoubleForkAndSetsidChildAndNothingElse() throws Exception
    {
        final Zone zone = backend.create(zoneName("tree"));
        final Zone bystander = backend.create(zoneName("bystander"));
        final ZoneProcess main = spawn(zone,
            "sleep 1000 & sleep 1000 & (sleep 1000 &); setsid sleep 1000 & wait");
        final ZoneProcess other = spawn(bystander, "exec sleep 1000");
        // unshare + the namespace's sh + four sleeps, one of them orphaned and one in its own session.
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> sleepCount(zone.path()) == 4 &&
            TestCgroups.procs(zone.path()).size() == 6);
        final List<TestCgroups.ProcId> before = new ArrayList<>();
        for (final long pid : TestCgroups.procs(zone.path()))
        {
            TestCgroups.ProcId.of(pid).ifPresent(before::add);
        }
        assertThat(before).hasSize(6).anyMatch(proc -> proc.pid() == main.pid());
        assertThat(backend.isEmpty(zone)).isFalse();

        final long killNs = System.nanoTime();
        backend.killAll(zone);
        final boolean emptied = backend.awaitEmpty(zone, PROMPTLY);
        final long emptyNs = System.nanoTime();
        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        System.out.printf("killAll -> populated 0 in %.2f ms%n", (emptyNs - killNs) / 1e6);

        assertThat(emptied).isTrue();
        assertThat(backend.isEmpty(zone)).isTrue();
        assertThat(main.isAlive()).isFalse();
        backend.destroy(zone);
        assertThat(zone.path()).doesNotExist();
        assertThat(backend.list()).containsExactly(bystander.name());
        assertThat(before).noneMatch(TestCgroups.ProcId::isRunning);
        // The other zone is untouched.
        assertThat(other.isAlive()).isTrue();
        assertThat(backend.isEmpty(bystander)).isFalse();
    }

    @Test
    void shouldCompleteExitedWhenMainProcessIsKilledByPid() throws Exception
    {
        final Zone zone = backend.create(zoneName("killed"));
        final ZoneProcess main = spawn(zone, "exec sleep 1000");
        assertThat(main.isAlive()).isTrue();
        assertThat(main.exited()).isNotDone();

        final Process kill = new ProcessBuilder("kill", SIGKILL_NAME, Long.toString(main.pid())).start();
        assertThat(kill.waitFor(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS)).isTrue();

        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> main.exited().isDone());
        assertThat(main.isAlive()).isFalse();
        // --kill-child usually takes the namespace down with unshare, but not if unshare dies before its child
        // has set its parent-death signal; the zone kill is what the agent relies on.
        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        backend.destroy(zone);
    }

    @Test
    void shouldCompleteExitedWhenMainProcessExitsByItself() throws Exception
    {
        final Zone zone = backend.create(zoneName("exits"));
        final ZoneProcess immediate = spawn(zone, "exit 3");
        final ZoneProcess later = spawn(zone, "sleep 0.2; exit 3");

        await().atMost(PROMPTLY).pollInterval(POLL)
            .until(() -> immediate.exited().isDone() && later.exited().isDone());
        assertThat(immediate.isAlive()).isFalse();
        assertThat(later.isAlive()).isFalse();
        assertThat(immediate.signal(LinuxLibC.SIGKILL)).isFalse();
        assertThat(later.signal(LinuxLibC.SIGKILL)).isFalse();
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        assertThat(backend.watchedCount()).isZero();
    }

    @Test
    void shouldSignalMainProcessThroughPidfdAndReportFalseAfterExit() throws Exception
    {
        final Zone zone = backend.create(zoneName("signal"));
        final ZoneProcess main = spawn(zone, "exec sleep 1000");

        assertThat(main.signal(LinuxLibC.SIGKILL)).isTrue();

        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(main.signal(LinuxLibC.SIGKILL)).isFalse();
        // Killing unshare takes its namespace down only once the child has set its parent-death signal; a kill
        // that lands earlier leaves the child running. The zone kill is what the agent relies on.
        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
    }

    @Test
    void shouldAppendStdoutAndStderrToLogFile() throws Exception
    {
        final Zone zone = backend.create(zoneName("log"));
        final Path log = tmp.resolve("nested/dirs/vmm.log");

        spawn(zone, log, "echo out-1; echo err-1 >&2").exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        spawn(zone, log, "echo out-2; echo err-2 >&2").exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);

        assertThat(Files.readAllLines(log)).containsExactly("out-1", "err-1", "out-2", "err-2");
    }

    @Test
    void shouldLeaveProcessRunningWhenBackendCloses() throws Exception
    {
        final Zone zone = backend.create(zoneName("survivor"));
        final ZoneProcess main = spawn(zone, "exec sleep 1000");

        backend.close();

        assertThat(main.isAlive()).isTrue();
        assertThat(ProcessHandle.of(main.pid())).hasValueSatisfying(handle -> assertThat(handle.isAlive()).isTrue());
        assertThatThrownBy(() -> backend.spawn(zone, List.of("true"), tmp.resolve("x.log")))
            .isInstanceOf(ZoneException.class);

        final CgroupZoneBackend again = newBackend();
        assertThat(again.list()).containsExactly(zone.name());
        assertThat(again.isEmpty(zone)).isFalse();
        again.killAll(zone);
        assertThat(again.awaitEmpty(zone, PROMPTLY)).isTrue();
        // The old watcher is gone, but the handle still sees the exit through its pidfd.
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> !main.isAlive());
        again.destroy(zone);
    }

    @Test
    void shouldStopWatchingWhenHandleIsClosed() throws Exception
    {
        final Zone zone = backend.create(zoneName("closed"));
        final ZoneProcess main = spawn(zone, "exec sleep 1000");
        assertThat(backend.watchedCount()).isEqualTo(1);

        main.close();
        main.close();

        assertThat(backend.watchedCount()).isZero();
        assertThatThrownBy(() -> main.signal(LinuxLibC.SIGKILL)).isInstanceOf(ZoneException.class);
        assertThat(backend.isEmpty(zone)).isFalse();
        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
    }

    @Test
    void shouldRunMainProcessInItsOwnSessionAndPidNamespace() throws Exception
    {
        final Zone zone = backend.create(zoneName("pidns"));
        final ZoneProcess main = spawn(zone, "exec sleep 1000");
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> sleepCount(zone.path()) == 1);

        final List<Long> procs = TestCgroups.procs(zone.path());
        final long nsInit = procs.stream().filter(pid -> pid != main.pid()).findFirst().orElseThrow();
        assertThat(procs).containsExactlyInAnyOrder(main.pid(), nsInit);
        assertThat(TestCgroups.comm(main.pid())).hasValue("unshare");
        // The child of unshare is PID 1 of a new namespace; unshare itself stays in ours.
        assertThat(TestCgroups.nsPids(nsInit)).containsExactly(nsInit, 1L);
        assertThat(TestCgroups.nsPids(main.pid())).containsExactly(main.pid());
        final String ours = TestCgroups.pidNamespace("self");
        assertThat(TestCgroups.pidNamespace(Long.toString(main.pid()))).isEqualTo(ours);
        assertThat(TestCgroups.pidNamespace(Long.toString(nsInit))).isNotEqualTo(ours);
        // setsid did not fork: the main process leads its own session.
        assertThat(TestCgroups.statFields(main.pid()).orElseThrow()[3]).isEqualTo(Long.toString(main.pid()));
    }

    @Test
    void shouldKeepOwnerMarkForTheNextBackendOnTheSameRoot()
    {
        final Zone zone = backend.create(ZoneBackend.ZONE_PREFIX + "owned");
        assertThat(backend.markOwner(zone, "agent-a")).isTrue();

        final CgroupZoneBackend next = newBackend();

        assertThat(next.owner(next.open(zone.name()))).as("an xattr of the cgroup: outlives the backend")
            .isEqualTo("agent-a");
    }

    @Test
    void shouldLockZoneRootOnceAcrossPathsAndReportHolderPid() throws Exception
    {
        final Path alias = Files.createSymbolicLink(tmp.resolve("alias"), root);
        try (DirectoryLock lock = DirectoryLock.tryAcquire(root))
        {
            assertThat(lock).isNotNull();
            assertThat(DirectoryLock.tryAcquire(root)).as("second lock on the same dir").isNull();
            assertThat(DirectoryLock.tryAcquire(alias)).as("second lock through another path").isNull();
            assertThat(DirectoryLock.holderPid(alias)).isEqualTo(ProcessHandle.current().pid());
        }
        try (DirectoryLock again = DirectoryLock.tryAcquire(alias))
        {
            assertThat(again).as("free again after close").isNotNull();
        }
        assertThat(DirectoryLock.holderPid(root)).isEqualTo(-1);
    }

    @Test
    void shouldCreateIdempotentlyAndOpenAndList()
    {
        final Zone first = backend.create(zoneName("twice"));
        final Zone second = backend.create(zoneName("twice"));

        assertThat(second).isEqualTo(first);
        assertThat(first.path()).isEqualTo(root.resolve(first.name())).isDirectory();
        assertThat(backend.open(first.name())).isEqualTo(first);
        assertThat(backend.open(zoneName("missing"))).isNull();
        assertThat(backend.list()).containsExactly(first.name());
        assertThat(backend.name()).isEqualTo("linux-cgroup2");
    }

    @Test
    void shouldRefuseNamesWithoutPrefixAndPathsOutsideRoot() throws IOException
    {
        Files.createDirectory(root.resolve("not-a-zone"));
        final String name = zoneName("fenced");
        final Path outside = root.getParent().resolve(name);
        final List<Zone> badZones = List.of(
            new Zone(name, outside),
            new Zone(name, root.resolve("not-a-zone").resolve(name)),
            new Zone(name, root.resolve(zoneName("other"))),
            new Zone(name, root.resolve("x/..").resolve(name).resolve("..").resolve("..").resolve(name)),
            new Zone(name, null),
            new Zone("not-a-zone", root.resolve("not-a-zone")));

        assertThatThrownBy(() -> backend.create("not-a-zone")).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.create(ZoneBackend.ZONE_PREFIX + "../x")).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.create(ZoneBackend.ZONE_PREFIX)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.open("x")).isInstanceOf(ZoneException.class);
        for (final Zone bad : badZones)
        {
            assertThatThrownBy(() -> backend.killAll(bad)).isInstanceOf(ZoneException.class);
            assertThatThrownBy(() -> backend.destroy(bad)).isInstanceOf(ZoneException.class);
            assertThatThrownBy(() -> backend.isEmpty(bad)).isInstanceOf(ZoneException.class);
            assertThatThrownBy(() -> backend.awaitEmpty(bad, Duration.ZERO)).isInstanceOf(ZoneException.class);
            assertThatThrownBy(() -> backend.spawn(bad, List.of("true"), tmp.resolve("bad.log")))
                .isInstanceOf(ZoneException.class);
        }
        assertThat(outside).doesNotExist();
        assertThat(root.resolve("not-a-zone")).isDirectory();
        assertThat(backend.list()).isEmpty();
    }

    @Test
    void shouldRefuseToDestroyNonEmptyZoneAndAcceptMissingZone() throws Exception
    {
        final Zone zone = backend.create(zoneName("busy"));
        spawn(zone, "exec sleep 1000");

        assertThatThrownBy(() -> backend.destroy(zone))
            .isInstanceOfSatisfying(ZoneException.class, ex -> assertThat(ex.errno()).isEqualTo(16));
        assertThat(zone.path()).isDirectory();

        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        backend.destroy(zone);
        backend.destroy(zone);
        assertThat(zone.path()).doesNotExist();
    }

    @Test
    void shouldTreatMissingZoneAsEmptyAndKilled() throws Exception
    {
        final Zone missing = new Zone(zoneName("never"), root.resolve(zoneName("never")));

        backend.killAll(missing);

        assertThat(backend.isEmpty(missing)).isTrue();
        assertThat(backend.awaitEmpty(missing, PROMPTLY)).isTrue();
        assertThatThrownBy(() -> backend.spawn(missing, List.of("true"), tmp.resolve("never.log")))
            .isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldReturnFalseWhenZoneDoesNotEmptyWithinBound() throws Exception
    {
        final Zone zone = backend.create(zoneName("bounded"));
        final Zone empty = backend.create(zoneName("empty"));
        spawn(zone, "exec sleep 1000");
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> !backend.isEmpty(zone));

        final long startNs = System.nanoTime();
        final boolean emptied = backend.awaitEmpty(zone, Duration.ofMillis(50));
        final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);

        assertThat(emptied).isFalse();
        assertThat(elapsedMs).isBetween(50L, 1000L);
        assertThat(backend.awaitEmpty(zone, Duration.ZERO)).isFalse();
        assertThat(backend.awaitEmpty(empty, Duration.ZERO)).isTrue();
        // Idempotent kill: twice, and again once empty.
        backend.killAll(zone);
        backend.killAll(zone);
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        backend.killAll(zone);
    }

    @Test
    void shouldListWholeTreeWhileFrozenAndThawItAgain() throws Exception
    {
        final Zone zone = backend.create(zoneName("frozen"));
        spawn(zone, "sleep 1000 & (sleep 1000 &); setsid sleep 1000 & wait");
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> sleepCount(zone.path()) == 3);
        final List<Long> expected = TestCgroups.procs(zone.path());

        final List<Long> pids = backend.pids(zone);

        assertThat(pids).containsExactlyInAnyOrderElementsOf(expected).hasSize(5);
        assertThat(Files.readString(zone.path().resolve("cgroup.freeze")).trim()).isEqualTo("0");
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> !CgroupEvents.isFrozen(zone.path()));
        assertThat(backend.pids(new Zone(zoneName("gone"), root.resolve(zoneName("gone"))))).isEmpty();
        assertThatThrownBy(() -> backend.pids(new Zone(zone.name(), root.getParent().resolve(zone.name()))))
            .isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldProbeRootWithoutLeavingAnythingBehind() throws Exception
    {
        assertThat(backend.probe()).isEqualTo("cgroup.kill");

        try (Stream<Path> children = Files.list(root))
        {
            assertThat(children.filter(Files::isDirectory)).isEmpty();
        }
    }

    @Test
    void shouldAdoptTheMainProcessOfAnEarlierRunOnlyIfItIsTheSameProcessInTheZone() throws Exception
    {
        final Zone zone = backend.create(zoneName("adopt"));
        final Zone other = backend.create(zoneName("adopt-other"));
        final ZoneProcess started = spawn(zone, "exec sleep 1000");
        final ZoneProcess elsewhere = spawn(other, "exec sleep 1000");
        assertThat(started.startTicks()).isPositive();

        // A new agent run: its own backend, the pid and start time from its records.
        final CgroupZoneBackend restarted = newBackend();
        final ZoneProcess adopted = restarted.adopt(zone, started.pid(), started.startTicks());
        handles.add(adopted);
        assertThat(adopted).isNotNull();
        assertThat(adopted.isAlive()).isTrue();
        assertThat(restarted.adopt(zone, started.pid(), started.startTicks() + 1)).as("another start time").isNull();
        assertThat(restarted.adopt(zone, elsewhere.pid(), elsewhere.startTicks())).as("not in this zone").isNull();

        restarted.killAll(zone);
        adopted.exited().get(5, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(adopted.isAlive()).isFalse();
        assertThat(restarted.adopt(zone, started.pid(), started.startTicks())).as("gone").isNull();
    }

    private CgroupZoneBackend newBackend()
    {
        final CgroupZoneBackend created = new CgroupZoneBackend(root);
        backends.add(created);
        return created;
    }

    private ZoneProcess spawn(final Zone zone, final String script)
    {
        return spawn(zone, tmp.resolve(zone.name() + ".log"), script);
    }

    private ZoneProcess spawn(final Zone zone, final Path log, final String script)
    {
        final ZoneProcess process = backend.spawn(zone, List.of("/bin/sh", "-c", script), log);
        handles.add(process);
        return process;
    }

    private static String zoneName(final String suffix)
    {
        return ZoneBackend.ZONE_PREFIX + suffix;
    }

    private static long sleepCount(final Path zoneDir) throws IOException
    {
        return TestCgroups.procs(zoneDir).stream()
            .filter(pid -> TestCgroups.comm(pid).filter("sleep"::equals).isPresent())
            .count();
    }
}
