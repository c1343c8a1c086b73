package sledagent.zones.illumos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.zones.CommandRunner;
import sledagent.zones.TestProcesses;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;
import sledagent.zones.ZoneProcess;

/**
 * The exact {@code zoneadm}/{@code zonecfg} command sequences of the illumos backend, for each state a zone can
 * be found in, against the stand-ins of {@link IllumosStandIns}.
 */
class IllumosZoneBackendTest
{
    private static final String Z = ZoneBackend.ZONE_PREFIX + "3f2b6f4e-8c1a-4f7e-9b0d-2a1c5e6f7a8b";
    private static final Zone ZONE = new Zone(Z, Path.of("/zone", Z));
    private static final String LIST = "zoneadm list -cip";
    private static final String SIGSEND = String.format(IllumosStandIns.SIGSEND, Z);
    private static final String HALT = "zoneadm -z " + Z + " halt";
    private static final String UNINSTALL = "zoneadm -z " + Z + " uninstall -F";
    private static final String DELETE = "zonecfg -z " + Z + " delete -F";
    private static final Duration PROMPTLY = Duration.ofSeconds(2);

    @TempDir
    Path tmp;

    private IllumosStandIns standIns;
    private IllumosZoneBackend backend;

    @BeforeEach
    void setUp() throws Exception
    {
        assumeTrue(Platform.isLinux(), "the stand-ins need Linux's setsid");
        standIns = new IllumosStandIns(tmp);
        backend = standIns.backend(PROMPTLY);
    }

    @AfterEach
    void tearDown() throws Exception
    {
        if (standIns != null)
        {
            standIns.close();
        }
    }

    @Test
    void shouldHaltUninstallAndDeleteRunningZone() throws Exception
    {
        givenZone("running");

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.RUNNING);

        assertThat(standIns.calls()).containsExactly(LIST, SIGSEND, HALT, UNINSTALL, DELETE);
        assertThat(standIns.state(Z)).isNull();
    }

    @Test
    void shouldHaltUninstallAndDeleteReadyZone() throws Exception
    {
        givenZone("ready");

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.READY);

        assertThat(standIns.calls()).containsExactly(LIST, SIGSEND, HALT, UNINSTALL, DELETE);
    }

    @Test
    void shouldUninstallAndDeleteInstalledZone() throws Exception
    {
        givenZone("installed");

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.INSTALLED);

        assertThat(standIns.calls()).containsExactly(LIST, UNINSTALL, DELETE);
    }

    @Test
    void shouldUninstallAndDeleteIncompleteZone() throws Exception
    {
        givenZone("incomplete");

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.INCOMPLETE);

        assertThat(standIns.calls()).containsExactly(LIST, UNINSTALL, DELETE);
    }

    @Test
    void shouldOnlyDeleteConfiguredZone() throws Exception
    {
        givenZone("configured");

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.CONFIGURED);

        assertThat(standIns.calls()).containsExactly(LIST, DELETE);
    }

    @Test
    void shouldDoNothingForMissingZone() throws Exception
    {
        assertThat(backend.haltAndRemove(ZONE)).isEmpty();

        assertThat(standIns.calls()).containsExactly(LIST);
    }

    @Test
    void shouldWaitOutShuttingDownThatClearsAndThenUninstallAndDelete() throws Exception
    {
        givenZone("shutting_down");
        standIns.clearAfterPolls(Z, 2);

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.INSTALLED);

        // Shown twice as shutting_down, then installed.
        assertThat(standIns.calls()).containsExactly(LIST, LIST, LIST, UNINSTALL, DELETE);
        assertThat(standIns.state(Z)).isNull();
    }

    @Test
    void shouldWaitOutDownThatClears() throws Exception
    {
        givenZone("down");
        standIns.clearAfterPolls(Z, 1);

        assertThat(backend.haltAndRemove(ZONE)).hasValue(ZoneState.INSTALLED);

        assertThat(standIns.calls()).containsExactly(LIST, LIST, UNINSTALL, DELETE);
    }

    @Test
    void shouldReportZoneStuckInShuttingDownAfterBoundedRetry() throws Exception
    {
        givenZone("shutting_down");
        standIns.stuck(Z);
        final long startNs = System.nanoTime();

        assertThatThrownBy(() -> backend.haltAndRemove(ZONE, Duration.ofMillis(300)))
            .isInstanceOfSatisfying(ZoneException.class, ex ->
            {
                assertThat(ex.errno()).isEqualTo(ZoneException.EBUSY);
                assertThat(ex.getMessage()).contains(Z, "still shutting_down", "checks over", "not removed");
            });

        final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
        assertThat(elapsedMs).isBetween(300L, 1500L);
        // Only looks, with growing pauses (10, 20, 40, 40... ms): never an uninstall or delete of a stuck zone.
        assertThat(standIns.calls()).hasSizeBetween(4, 15).containsOnly(LIST);
        assertThat(standIns.state(Z)).isEqualTo("shutting_down");
    }

    @Test
    void shouldKillHangingCommandAtItsDeadlineAndReportIt() throws Exception
    {
        backend = standIns.backend(Duration.ofMillis(300));
        givenZone("running");
        standIns.hangOn(Z, "halt");
        final long startNs = System.nanoTime();

        assertThatThrownBy(() -> backend.haltAndRemove(ZONE))
            .isInstanceOf(ZoneException.class)
            .hasMessageContaining(HALT + ": did not finish within 300 ms; killed it");

        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs)).isBetween(300L, 2000L);
        assertThat(standIns.calls()).containsExactly(LIST, SIGSEND, HALT);
        await().atMost(PROMPTLY).pollInterval(Duration.ofMillis(5))
            .until(() -> TestProcesses.withCommandLine(List.of("sleep", IllumosStandIns.HANG_SECONDS)).isEmpty());
    }

    @Test
    void shouldReportFailingCommandWithItsOutput() throws Exception
    {
        givenZone("installed");
        standIns.failOn(Z, "uninstall");

        assertThatThrownBy(() -> backend.destroy(ZONE))
            .isInstanceOf(ZoneException.class)
            .hasMessageContaining(UNINSTALL + ": exit 1: zoneadm: zone '" + Z + "': uninstall failed (scripted)");

        assertThat(standIns.calls()).containsExactly(LIST, UNINSTALL);
        assertThat(standIns.state(Z)).isEqualTo("installed");
    }

    @Test
    void shouldConfigureAndInstallNewZoneAndRepairIncompleteOne() throws Exception
    {
        final Zone created = backend.create(Z);

        assertThat(created).isEqualTo(ZONE);
        assertThat(standIns.calls()).containsExactly(LIST,
            "zonecfg -z " + Z + " create -b; set zonepath=/zone/" + Z +
                "; set brand=omicron1; set autoboot=false; set ip-type=exclusive",
            "zoneadm -z " + Z + " install");
        assertThat(standIns.state(Z)).isEqualTo("installed");

        standIns.clearCalls();
        backend.create(Z);
        assertThat(standIns.calls()).containsExactly(LIST);

        givenZone("incomplete");
        backend.create(Z);
        assertThat(standIns.calls()).containsExactly(LIST, UNINSTALL, "zoneadm -z " + Z + " install");
    }

    @Test
    void shouldBootZloginKillAndRemoveInThatOrder() throws Exception
    {
        givenZone("installed");
        final ZoneProcess vmm = backend.spawn(ZONE, List.of("/bin/sh", "-c", "exec sleep 1000"), tmp.resolve("v.log"));
        // zlogin runs on its own: once it has become the program, its call is in the log.
        await().atMost(PROMPTLY).until(() -> TestProcesses.comm(vmm.pid()).filter("sleep"::equals).isPresent());
        assertThat(standIns.calls()).containsExactly(LIST, "zoneadm -z " + Z + " boot",
            "zlogin -S " + Z + " /bin/sh -c exec sleep 1000");
        assertThat(backend.isEmpty(ZONE)).isFalse();
        standIns.clearCalls();

        backend.killAll(ZONE);
        assertThat(backend.awaitEmpty(ZONE, PROMPTLY)).isTrue();
        backend.destroy(ZONE);

        assertThat(standIns.calls()).containsExactly(LIST, SIGSEND, HALT, LIST, LIST, UNINSTALL, DELETE);
        vmm.exited().get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void shouldHaltAgainAndReportThroughAwaitEmptyWhenZoneIsStuck() throws Exception
    {
        givenZone("shutting_down");
        standIns.stuck(Z);

        backend.killAll(ZONE); // The failed halt is logged, not thrown: the zone is already going down.

        assertThat(backend.awaitEmpty(ZONE, Duration.ofMillis(100))).isFalse();
        assertThatThrownBy(() -> backend.destroy(ZONE))
            .isInstanceOfSatisfying(ZoneException.class, ex -> assertThat(ex.errno()).isEqualTo(ZoneException.EBUSY));
        assertThat(standIns.calls()).startsWith(LIST, SIGSEND, HALT, LIST).endsWith(LIST).doesNotContain(DELETE);
    }

    @Test
    void shouldRefuseToDestroyRunningZoneWithoutRunningAnyCommand() throws Exception
    {
        givenZone("running");

        assertThatThrownBy(() -> backend.destroy(ZONE))
            .isInstanceOfSatisfying(ZoneException.class, ex -> assertThat(ex.errno()).isEqualTo(ZoneException.EBUSY))
            .hasMessageContaining("is running, not empty");

        assertThat(standIns.calls()).containsExactly(LIST);
    }

    @Test
    void shouldHaltEvenWhenForceKillFails() throws Exception
    {
        backend = new IllumosZoneBackend(new CommandRunner(standIns.environment()),
            IllumosStandIns.settings(PROMPTLY), zone ->
            {
                throw new ZoneException("sigsend: EPERM");
            });
        givenZone("running");

        backend.killAll(ZONE);

        assertThat(standIns.calls()).containsExactly(LIST, HALT);
        assertThat(standIns.state(Z)).isEqualTo("installed");
    }

    @Test
    void shouldListOnlyZonesOfThisAgentAndOpenWithTheirZonepath() throws Exception
    {
        standIns.addZone("webserver", "running");
        givenZone("installed");
        standIns.clearCalls();

        assertThat(backend.list()).containsExactly(Z);
        assertThat(backend.open(Z)).isEqualTo(ZONE);
        assertThat(backend.open(ZoneBackend.ZONE_PREFIX + "missing")).isNull();
        assertThatThrownBy(() -> backend.open("webserver")).isInstanceOf(ZoneException.class);
        assertThat(standIns.calls()).containsExactly(LIST, LIST, LIST);
        assertThat(Optional.ofNullable(standIns.state("webserver"))).hasValue("running");
    }

    @Test
    void shouldAdoptTheZloginOfAnEarlierRunWhileItsZoneRunsAndSeeItsExit() throws Exception
    {
        givenZone("running");
        // An earlier agent run: a zlogin this JVM did not start (a shell started it and stays to reap it).
        final ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c",
            "zlogin -S " + Z + " sleep 1000 & echo $!; wait").redirectError(ProcessBuilder.Redirect.DISCARD);
        builder.environment().putAll(standIns.environment());
        final Process earlier = builder.start();
        long pid = -1;
        try
        {
            pid = Long.parseLong(new java.io.BufferedReader(new java.io.InputStreamReader(earlier.getInputStream(),
                java.nio.charset.StandardCharsets.US_ASCII)).readLine().strip());
            final long zlogin = pid;
            await().atMost(PROMPTLY).until(() -> TestProcesses.comm(zlogin).filter("sleep"::equals).isPresent());
            assertThat(ProcessHandle.current().children().map(ProcessHandle::pid)).doesNotContain(pid);
            final long startMs = ProcessHandle.of(pid).orElseThrow().info().startInstant().orElseThrow()
                .toEpochMilli();
            standIns.clearCalls();

            final ZoneProcess adopted = backend.adopt(ZONE, pid, startMs);

            assertThat(adopted).isNotNull();
            assertThat(adopted.pid()).isEqualTo(pid);
            assertThat(adopted.startTicks()).isEqualTo(startMs);
            assertThat(adopted.isAlive()).isTrue();
            assertThat(standIns.calls()).containsExactly(LIST);
            assertThat(backend.adopt(ZONE, pid, startMs - 1)).as("another start: a recycled pid").isNull();

            backend.killAll(ZONE);

            // Not our child: the JDK looks every 0.3 s at first.
            adopted.exited().get(10, TimeUnit.SECONDS);
            assertThat(adopted.isAlive()).isFalse();
            assertThat(earlier.waitFor(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        }
        finally
        {
            earlier.destroyForcibly();
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    @Test
    void shouldAdoptNothingFromAZoneThatIsNotRunningAndNothingWithoutAStartTime() throws Exception
    {
        // A live process with its true start time: only the zone's state stands between it and adoption.
        final Process sleeper = new ProcessBuilder("sleep", "1000").start();
        try
        {
            final ProcessHandle alive = sleeper.toHandle();
            final long startMs = alive.info().startInstant().orElseThrow().toEpochMilli();
            for (final String state : List.of("installed", "ready", "shutting_down", "down", "configured"))
            {
                givenZone(state);

                assertThat(backend.adopt(ZONE, alive.pid(), startMs)).as(state).isNull();

                assertThat(standIns.calls()).as(state).containsExactly(LIST);
            }
            givenZone("running");
            assertThat(backend.adopt(ZONE, alive.pid(), 0)).as("no start time recorded").isNull();
            assertThat(backend.adopt(ZONE, -1, startMs)).isNull();
            assertThat(standIns.calls()).as("refused before any command").isEmpty();
            backend.close();
            assertThatThrownBy(() -> backend.adopt(ZONE, alive.pid(), startMs)).isInstanceOf(ZoneException.class);
        }
        finally
        {
            sleeper.destroyForcibly();
            sleeper.waitFor(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void givenZone(final String state) throws Exception
    {
        standIns.addZone(Z, state);
        standIns.clearCalls();
    }
}
