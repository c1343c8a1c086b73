package sledagent.agent.persist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import sledagent.agent.vmm.KillIntent;

/** The kill journal on a real (tmpfs) file system: it keeps kills when the disk is full, and replays them. */
class KillJournalTest
{
    private Path mountPoint;
    private boolean mounted;

    @BeforeEach
    void mountTinyDir() throws Exception
    {
        mountPoint = Files.createTempDirectory("sled-journal");
        final Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
            mountPoint.toString()).redirectErrorStream(true).start();
        mounted = mount.waitFor(10, TimeUnit.SECONDS) && mount.exitValue() == 0;
        if (!mounted && "1".equals(System.getenv("SLED_AGENT_REQUIRE_TOOLS")))
        {
            throw new IllegalStateException("cannot mount a tmpfs: " + new String(mount.getInputStream()
                .readAllBytes()));
        }
        Assumptions.assumeTrue(mounted, "cannot mount a tmpfs (need root)");
    }

    @AfterEach
    void unmount() throws Exception
    {
        if (mounted)
        {
            new ProcessBuilder("umount", "-l", mountPoint.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
        Files.deleteIfExists(mountPoint);
    }

    @Test
    void shouldKeepKillsWrittenOnAFullDiskAndGiveThemBackInOrderAfterARestart() throws Exception
    {
        final Path file = mountPoint.resolve("kill-journal");
        final UUID first = UUID.randomUUID();
        final UUID second = UUID.randomUUID();
        final Instant deadline = Instant.parse("2026-12-02T12:00:00.123Z");
        try (KillJournal journal = KillJournal.open(file, 64))
        {
            fill(mountPoint.resolve("filler"));
            assertThat(Files.getFileStore(mountPoint).getUsableSpace()).isLessThan(4096);
            assertThat(journal.append(first, new KillIntent(KillIntent.Kind.STOP, deadline))).isTrue();
            assertThat(journal.append(second, new KillIntent(KillIntent.Kind.UNREGISTER, null))).isTrue();
            assertThat(journal.append(second, new KillIntent(KillIntent.Kind.GRACE_EXPIRED, null))).isTrue();
            assertThat(journal.append(first, new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null))).isTrue();
            assertThat(journal.taken()).isEqualTo(4);
        }
        try (KillJournal journal = KillJournal.open(file, 64))
        {
            final Map<UUID, List<KillIntent>> found = journal.found();
            assertThat(found.get(first)).containsExactly(new KillIntent(KillIntent.Kind.STOP, deadline),
                new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null));
            assertThat(found.get(second)).containsExactly(new KillIntent(KillIntent.Kind.UNREGISTER, null),
                new KillIntent(KillIntent.Kind.GRACE_EXPIRED, null));
            journal.settle(first);
            journal.forgetAllBut(Set.of(first));
            assertThat(journal.taken()).isZero();
        }
        try (KillJournal journal = KillJournal.open(file, 64))
        {
            assertThat(journal.found()).as("settled slots are zeroed").isEmpty();
        }
    }

    @Test
    void shouldRefuseWhenFullAndReuseSettledSlots() throws Exception
    {
        try (KillJournal journal = KillJournal.open(mountPoint.resolve("kill-journal"), 2))
        {
            final UUID a = UUID.randomUUID();
            final UUID b = UUID.randomUUID();
            assertThat(journal.append(a, new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null))).isTrue();
            assertThat(journal.append(b, new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null))).isTrue();
            assertThat(journal.append(UUID.randomUUID(), new KillIntent(KillIntent.Kind.STOP, null))).isFalse();
            journal.settle(a);
            assertThat(journal.append(UUID.randomUUID(), new KillIntent(KillIntent.Kind.STOP, null))).isTrue();
        }
    }

    @Test
    void shouldSkipATornSlot() throws Exception
    {
        final Path file = mountPoint.resolve("kill-journal");
        final UUID id = UUID.randomUUID();
        try (KillJournal journal = KillJournal.open(file, 4))
        {
            assertThat(journal.append(id, new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null))).isTrue();
        }
        final byte[] bytes = Files.readAllBytes(file);
        bytes[20] ^= 0x5A;
        Files.write(file, bytes);
        try (KillJournal journal = KillJournal.open(file, 4))
        {
            assertThat(journal.found()).isEmpty();
        }
    }

    private static void fill(final Path file) throws IOException
    {
        try (OutputStream out = Files.newOutputStream(file))
        {
            final byte[] page = new byte[4096];
            while (true)
            {
                out.write(page);
            }
        }
        catch (final IOException full)
        {
            // ENOSPC: as full as it gets.
        }
    }
}
