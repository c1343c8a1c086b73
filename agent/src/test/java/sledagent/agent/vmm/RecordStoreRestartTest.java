package sledagent.agent.vmm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.persist.FileVmmStore;
import sledagent.api.VmmState;

/**
 * The record store on a real disk across the death of the process that wrote it (SIGKILL of a child JVM,
 * {@link RecordWriterChild}): every write the group-commit writer acknowledged is read back by the restarted store,
 * whole; and a force-terminate journalled ahead of its record (the actor kills right after) makes the restarted
 * agent end the VMM as {@code destroyed}, never {@code failed}.
 */
class RecordStoreRestartTest
{
    private Path stateDir;
    private Process child;

    @BeforeEach
    void makeStateDir() throws IOException
    {
        // Under the build's target directory: a real disk, not tmpfs.
        final Path target = Path.of("target");
        Files.createDirectories(target);
        stateDir = Files.createTempDirectory(target.toAbsolutePath(), "record-restart");
    }

    @AfterEach
    void cleanUp() throws Exception
    {
        if (child != null && child.isAlive())
        {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
        try (Stream<Path> files = Files.walk(stateDir))
        {
            for (final Path file : files.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(file);
            }
        }
    }

    private Process startChild(final String... args) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(RecordWriterChild.class.getName());
        command.addAll(List.of(args));
        child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        return child;
    }

    private void sigkill() throws InterruptedException
    {
        child.destroyForcibly();
        assertThat(child.waitFor(10, TimeUnit.SECONDS)).as("child gone").isTrue();
    }

    @Test
    void shouldReadBackEveryAcknowledgedWriteAfterTheWriterIsKilledMidStream() throws Exception
    {
        final int vmms = 12;
        final Process writer = startChild("writes", stateDir.toString(), String.valueOf(vmms), "4");
        final Map<UUID, Long> acked = new HashMap<>();
        final long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        int lines = 0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(writer.getInputStream(),
            StandardCharsets.UTF_8)))
        {
            // Enough acknowledgements that the kill lands in the middle of batches, bounded in time.
            while (lines < 400 && System.nanoTime() < deadlineNs)
            {
                final String line = out.readLine();
                assertThat(line).as("child still writing").isNotNull();
                final String[] parts = line.split(" ");
                acked.merge(UUID.fromString(parts[1]), Long.parseLong(parts[2]), Math::max);
                lines++;
            }
            sigkill();
        }
        assertThat(acked).as("every VMM was written").hasSize(vmms);

        try (FileVmmStore restarted = new FileVmmStore(stateDir))
        {
            final Map<UUID, Long> found = new HashMap<>();
            for (final StoredVmm vmm : restarted.loadAll())
            {
                found.put(vmm.propolisId(), vmm.vmmPid());
            }
            for (final Map.Entry<UUID, Long> entry : acked.entrySet())
            {
                assertThat(found.get(entry.getKey())).as("record of %s: at least the acknowledged write",
                    entry.getKey()).isNotNull().isGreaterThanOrEqualTo(entry.getValue());
            }
        }
        try (Stream<Path> left = Files.list(stateDir.resolve("vmms")))
        {
            assertThat(left.filter(p -> p.toString().endsWith(".tmp")).toList())
                .as("unfinished writes removed at load").isEmpty();
        }
    }

    @Test
    void shouldEndAKillJournalledAheadOfItsRecordAsDestroyedAfterTheAgentDies() throws Exception
    {
        final UUID id = UUID.randomUUID();
        final Process agent = startChild("kill-ahead", stateDir.toString(), id.toString());
        try (BufferedReader out = new BufferedReader(new InputStreamReader(agent.getInputStream(),
            StandardCharsets.UTF_8)))
        {
            assertThat(out.readLine()).isEqualTo("killed");
        }
        // Dies after the kill, before the record saying so is written.
        sigkill();

        try (FileVmmStore restarted = new FileVmmStore(stateDir))
        {
            final List<StoredVmm> records = restarted.loadAll();
            assertThat(records).hasSize(1);
            final VmmRecord onDisk = records.get(0).record(600_000);
            assertThat(onDisk.phase()).as("the record was not written").isEqualTo(Phase.ACTIVE);
            final List<KillIntent> kills = restarted.journalledKills().getOrDefault(id, List.of());
            assertThat(kills).containsExactly(new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null));

            // The restarted agent: the zone is empty (the kill went through), the journal folded in.
            final Transition recovered = VmmLifecycle.apply(onDisk, new Event.Recovered(false, kills),
                RecordWriterChild.T0.plusSeconds(5));
            final VmmRecord done = VmmLifecycle.apply(recovered.next(), new Event.ZoneTornDown(),
                RecordWriterChild.T0.plusSeconds(6)).next();
            assertThat(done.current().vmmState().state()).isEqualTo(VmmState.DESTROYED);
            assertThat(done.gen()).isEqualTo(onDisk.gen() + 1);

            // What the same restart would say without the journal: failed, which must not happen.
            final VmmRecord unjournalled = VmmLifecycle.apply(VmmLifecycle.apply(onDisk, new Event.Recovered(false),
                RecordWriterChild.T0.plusSeconds(5)).next(), new Event.ZoneTornDown(),
                RecordWriterChild.T0.plusSeconds(6)).next();
            assertThat(unjournalled.current().vmmState().state()).isEqualTo(VmmState.FAILED);
        }
    }
}
