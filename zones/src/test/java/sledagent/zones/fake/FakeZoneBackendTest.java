package sledagent.zones.fake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import sledagent.zones.Zone;
import sledagent.zones.ZoneBackend;
import sledagent.zones.ZoneException;

/** The fake's scripting and inspection, which agent tests rely on. */
class FakeZoneBackendTest
{
    private static final String Z = ZoneBackend.ZONE_PREFIX + "1";
    private static final Path LOG = Path.of("/nowhere/vmm.log");
    private static final List<String> ARGV = List.of("propolis-server", "run");

    private final FakeZoneBackend backend = new FakeZoneBackend();

    @Test
    void shouldKeepZoneFullWhileScriptedNotToEmptyThenLetTheNextKillWork() throws Exception
    {
        final Zone zone = backend.create(Z);
        final FakeZoneProcess vmm = (FakeZoneProcess)backend.spawn(zone, ARGV, LOG);
        backend.willNotEmpty(Z, true);

        backend.killAll(zone);
        assertThat(vmm.signal(9)).isTrue();
        final long startNs = System.nanoTime();
        assertThat(backend.awaitEmpty(zone, Duration.ofMillis(50))).isFalse();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs)).isGreaterThanOrEqualTo(50);
        assertThat(vmm.isAlive()).isTrue();
        assertThatThrownBy(() -> backend.destroy(zone))
            .isInstanceOfSatisfying(ZoneException.class, ex -> assertThat(ex.errno()).isEqualTo(ZoneException.EBUSY));

        backend.willNotEmpty(Z, false);
        backend.killAll(zone);

        assertThat(backend.awaitEmpty(zone, Duration.ZERO)).isTrue();
        assertThat(vmm.exited()).isDone();
        assertThat(vmm.signals()).containsExactly(9);
        backend.destroy(zone);
    }

    @Test
    void shouldCountStuckZoneWithoutProcessesAsPopulated()
    {
        final Zone zone = backend.create(Z);
        backend.willNotEmpty(Z, true);

        assertThat(backend.isEmpty(zone)).isFalse();
    }

    @Test
    void shouldFailDestroyExactlyNTimesAndRecordEveryCall()
    {
        final Zone zone = backend.create(Z);
        backend.failNext(FakeZoneBackend.Operation.DESTROY, Z, 2);

        assertThatThrownBy(() -> backend.destroy(zone)).isInstanceOf(ZoneException.class)
            .hasMessageContaining("1 more");
        assertThatThrownBy(() -> backend.destroy(zone)).isInstanceOf(ZoneException.class)
            .hasMessageContaining("0 more");
        backend.destroy(zone);

        assertThat(backend.list()).isEmpty();
        assertThat(backend.calls()).containsExactly("create " + Z, "destroy " + Z, "destroy " + Z, "destroy " + Z);
    }

    @Test
    void shouldFailScriptedCreateSpawnAndKill()
    {
        backend.failNext(FakeZoneBackend.Operation.CREATE, Z, 1);
        assertThatThrownBy(() -> backend.create(Z)).isInstanceOf(ZoneException.class);
        final Zone zone = backend.create(Z);
        backend.failNext(FakeZoneBackend.Operation.SPAWN, Z, 1);
        backend.failNext(FakeZoneBackend.Operation.KILL_ALL, Z, 1);

        assertThatThrownBy(() -> backend.spawn(zone, ARGV, LOG)).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> backend.killAll(zone)).isInstanceOf(ZoneException.class);
        assertThat(backend.processes(Z)).isEmpty();
        backend.killAll(zone);
        assertThat(backend.calls()).containsExactly("create " + Z, "create " + Z, "spawn " + Z + " " + ARGV,
            "killAll " + Z, "killAll " + Z);
    }

    @Test
    void shouldWakeAwaitEmptyWhenProcessExitsOnAnotherThread() throws Exception
    {
        final Zone zone = backend.create(Z);
        final FakeZoneProcess vmm = (FakeZoneProcess)backend.spawn(zone, ARGV, LOG);
        final long startNs = System.nanoTime();

        CompletableFuture.runAsync(vmm::exit, CompletableFuture.delayedExecutor(50, TimeUnit.MILLISECONDS));

        assertThat(backend.awaitEmpty(zone, Duration.ofSeconds(5))).isTrue();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs)).isBetween(40L, 2000L);
    }

    @Test
    void shouldExposeSpawnedProcessesAndRefuseSpawnAfterClose()
    {
        final Zone zone = backend.create(Z);
        final FakeZoneProcess first = (FakeZoneProcess)backend.spawn(zone, ARGV, LOG);
        final FakeZoneProcess second = (FakeZoneProcess)backend.spawn(zone, List.of("other"), LOG);
        second.signal(15);
        second.close();

        assertThat(backend.processes(Z)).containsExactly(first, second);
        assertThat(first.pid()).isNotEqualTo(second.pid());
        assertThat(first.argv()).isEqualTo(ARGV);
        assertThat(first.logFile()).isEqualTo(LOG);
        assertThat(first.zoneName()).isEqualTo(Z);
        assertThat(second.isAlive()).isFalse();
        assertThat(second.isClosed()).isTrue();
        assertThat(backend.isEmpty(zone)).isFalse();

        backend.close();
        assertThat(backend.isClosed()).isTrue();
        assertThatThrownBy(() -> backend.spawn(zone, ARGV, LOG)).isInstanceOf(ZoneException.class);
        assertThat(first.isAlive()).isTrue();
    }
}
