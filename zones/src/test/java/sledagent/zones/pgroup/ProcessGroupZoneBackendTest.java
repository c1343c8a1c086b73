package sledagent.zones.pgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.zones.TestProcesses;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneProcess;
import sledagent.zones.linux.ProcStat;

/** What the process-group backend does beyond the contract, including what it cannot do (its weaknesses). */
class ProcessGroupZoneBackendTest
{
    private static final Duration PROMPTLY = Duration.ofSeconds(2);
    private static final Duration POLL = Duration.ofMillis(5);

    @TempDir
    Path tmp;

    private final List<ProcessGroupZoneBackend> backends = new ArrayList<>();
    private final List<ProcessHandle> strays = new ArrayList<>();

    @BeforeEach
    void setUp()
    {
        assumeTrue(Platform.isLinux(), "Linux only");
    }

    @AfterEach
    void tearDown() throws Exception
    {
        try
        {
            for (final ProcessGroupZoneBackend backend : backends)
            {
                for (final String name : backend.list())
                {
                    final Zone zone = backend.open(name);
                    backend.killAll(zone);
                    assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
                    backend.destroy(zone);
                }
            }
        }
        finally
        {
            backends.forEach(ProcessGroupZoneBackend::close);
            strays.forEach(ProcessHandle::destroyForcibly);
        }
    }

    @Test
    void shouldStartMainProcessLeadingItsOwnSessionAndGroupInsideNewPidNamespace() throws Exception
    {
        final ProcessGroupZoneBackend backend = backend(new ProcessGroupZoneBackend());
        assumeTrue(backend.usesPidNamespace(), backend.description());
        final Zone zone = backend.create(ZoneBackend.ZONE_PREFIX + "ns");

        final ZoneProcess main = backend.spawn(zone, List.of("/bin/sh", "-c", "exec sleep 1000"), tmp.resolve("a.log"));

        final ProcStat stat = ProcStat.read(main.pid()).orElseThrow();
        assertThat(stat.session()).isEqualTo(main.pid());
        assertThat(stat.pgrp()).isEqualTo(main.pid());
        await().atMost(PROMPTLY).pollInterval(POLL)
            .until(() -> TestProcesses.count(TestProcesses.tree(main.pid()), "sleep") == 1);
        assertThat(TestProcesses.comm(main.pid())).hasValue("unshare");
        final long init = TestProcesses.tree(main.pid()).get(1).pid();
        assertThat(pidNamespace(init)).isNotEqualTo(pidNamespace(ProcessHandle.current().pid()));
        assertThat(backend.description()).contains("a PID namespace per VMM");
    }

    @Test
    void shouldKillForkingAndDoubleForkingTreeWithoutPidNamespace() throws Exception
    {
        final ProcessGroupZoneBackend backend = backend(new ProcessGroupZoneBackend(false, "test: none"));
        final Zone zone = backend.create(ZoneBackend.ZONE_PREFIX + "plain");
        final ZoneProcess main = backend.spawn(zone, List.of("/bin/sh", "-c", "sleep 1000 & (sleep 1000 &); wait"),
            tmp.resolve("b.log"));
        // The double-forked sleep is reparented away from the tree, but stays in the group.
        await().atMost(PROMPTLY).pollInterval(POLL).until(() -> groupMembers(main.pid()).size() == 3);
        final List<TestProcesses.ProcId> before = new ArrayList<>();
        for (final long pid : groupMembers(main.pid()))
        {
            TestProcesses.ProcId.of(pid).ifPresent(before::add);
        }

        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        main.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(before).hasSize(3).noneMatch(TestProcesses.ProcId::isRunning);
        backend.destroy(zone);
    }

    @Test
    void shouldLoseProcessThatStartsNewSessionWithoutPidNamespace() throws Exception
    {
        final ProcessGroupZoneBackend backend = backend(new ProcessGroupZoneBackend(false, "test: none"));
        final Zone zone = backend.create(ZoneBackend.ZONE_PREFIX + "escape");
        final ZoneProcess main = backend.spawn(zone, List.of("/bin/sh", "-c", "setsid sleep 1000 & wait"),
            tmp.resolve("c.log"));
        await().atMost(PROMPTLY).pollInterval(POLL)
            .until(() -> TestProcesses.count(TestProcesses.tree(main.pid()), "sleep") == 1);
        final TestProcesses.ProcId escaped = TestProcesses.tree(main.pid()).stream()
            .filter(proc -> TestProcesses.comm(proc.pid()).filter("sleep"::equals).isPresent())
            .findFirst().orElseThrow();
        ProcessHandle.of(escaped.pid()).ifPresent(strays::add);

        backend.killAll(zone);

        // The documented weakness: the zone counts as empty while the escaped process still runs.
        assertThat(backend.awaitEmpty(zone, PROMPTLY)).isTrue();
        assertThat(escaped.isRunning()).isTrue();
    }

    @Test
    void shouldNotSeeZonesOfAnotherInstanceNorAnyAfterClose()
    {
        final ProcessGroupZoneBackend first = backend(new ProcessGroupZoneBackend(false, "test: none"));
        final ProcessGroupZoneBackend second = backend(new ProcessGroupZoneBackend(false, "test: none"));
        first.create(ZoneBackend.ZONE_PREFIX + "mine");

        assertThat(first.list()).containsExactly(ZoneBackend.ZONE_PREFIX + "mine");
        assertThat(second.list()).isEmpty();
        assertThat(second.open(ZoneBackend.ZONE_PREFIX + "mine")).isNull();

        first.close();
        assertThat(first.list()).isEmpty();
    }

    @Test
    void shouldTellMembersFromStrangersOnReusedPids()
    {
        final FakeLeader leader = new FakeLeader(500);
        final ProcessGroup group = new ProcessGroup(leader, 77);
        final ProcStat leaderStat = new ProcStat(500, 'S', 1, 500, 500, 77);
        final ProcStat child = new ProcStat(501, 'S', 500, 500, 500, 80);
        final ProcStat ownGroupChild = new ProcStat(502, 'S', 500, 502, 500, 81);
        final ProcStat zombie = new ProcStat(503, 'Z', 500, 500, 500, 82);
        final ProcStat stranger = new ProcStat(600, 'S', 1, 600, 600, 90);
        final ProcStat reusedLeaderPid = new ProcStat(500, 'S', 1, 500, 500, 99);

        assertThat(List.of(leaderStat, child, ownGroupChild)).allMatch(group::isLiveMember);
        assertThat(List.of(zombie, stranger, reusedLeaderPid)).noneMatch(group::isLiveMember);
        assertThat(group.isEmpty(List.of(child))).isFalse(); // The leader is alive.

        leader.alive = false;
        assertThat(group.isEmpty(List.of(child, stranger))).isFalse();
        assertThat(group.isEmpty(List.of(zombie, stranger))).isTrue();
        // Its pid now names another process: the group ended, whatever carries the number now is not ours.
        assertThat(group.isStolen(List.of(reusedLeaderPid))).isTrue();
        assertThat(group.isEmpty(List.of(reusedLeaderPid, new ProcStat(700, 'S', 500, 500, 500, 100)))).isTrue();
        assertThat(group.killMembers(List.of(reusedLeaderPid))).isZero();
    }

    private ProcessGroupZoneBackend backend(final ProcessGroupZoneBackend backend)
    {
        backends.add(backend);
        return backend;
    }

    private static List<Long> groupMembers(final long pgid)
    {
        return ProcStat.all().stream().filter(stat -> stat.pgrp() == pgid && !stat.isZombie())
            .map(ProcStat::pid).toList();
    }

    private static String pidNamespace(final long pid) throws Exception
    {
        return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", "pid")).toString();
    }

    /** A leader whose liveness the test sets. */
    private static final class FakeLeader implements ZoneProcess
    {
        private final long pid;
        volatile boolean alive = true;

        FakeLeader(final long pid)
        {
            this.pid = pid;
        }

        @Override
        public long pid()
        {
            return pid;
        }

        @Override
        public CompletableFuture<Void> exited()
        {
            return alive ? new CompletableFuture<>() : CompletableFuture.completedFuture(null);
        }

        @Override
        public boolean isAlive()
        {
            return alive;
        }

        @Override
        public boolean signal(final int signo)
        {
            return false;
        }

        @Override
        public void close()
        {
        }
    }
}
