package sledagent.agent.persist;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The batching of {@link GroupCommitWriter} on a fake disk that records every call: several VMMs' writes share one
 * sync of their temporary files and one directory sync; no write is acknowledged before the syncs that cover it;
 * a VMM's writes coalesce in order; a failure fails only what it concerns; the queue is bounded; close drains.
 */
class GroupCommitWriterTest
{
    private static final UUID A = new UUID(0, 1);
    private static final UUID B = new UUID(0, 2);
    private static final UUID C = new UUID(0, 3);

    private final List<GroupCommitWriter> writers = new ArrayList<>();

    /** A disk in memory: files by id, a log of calls, failures on demand, a gate the first sync can wait at. */
    private static final class FakeDisk implements GroupCommitWriter.Disk
    {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final Map<UUID, String> temps = new HashMap<>();
        final Map<UUID, String> files = new HashMap<>();
        final Set<UUID> failTemp = new java.util.HashSet<>();
        volatile boolean failSync;
        volatile boolean failDir;
        /** Futures that must still be pending when a sync happens (acknowledged only after it). */
        final List<CompletableFuture<Void>> mustBePendingAtSync = new CopyOnWriteArrayList<>();
        volatile boolean acknowledgedBeforeSync;
        volatile CountDownLatch gate;
        final CountDownLatch atGate = new CountDownLatch(1);

        @Override
        public synchronized void writeTemp(final UUID id, final byte[] bytes) throws IOException
        {
            calls.add("temp " + id.getLeastSignificantBits());
            if (failTemp.contains(id))
            {
                throw new IOException("No space left on device");
            }
            temps.put(id, new String(bytes, StandardCharsets.UTF_8));
        }

        @Override
        public void syncTemps(final List<UUID> ids) throws IOException
        {
            final CountDownLatch waitAt = gate;
            if (waitAt != null)
            {
                gate = null;
                atGate.countDown();
                try
                {
                    waitAt.await(30, TimeUnit.SECONDS);
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            }
            calls.add("sync " + ids.size());
            checkNothingAcknowledged();
            if (failSync)
            {
                throw new IOException("EIO");
            }
        }

        @Override
        public synchronized void rename(final UUID id)
        {
            calls.add("rename " + id.getLeastSignificantBits());
            files.put(id, temps.remove(id));
        }

        @Override
        public synchronized void remove(final UUID id)
        {
            calls.add("remove " + id.getLeastSignificantBits());
            files.remove(id);
        }

        @Override
        public synchronized void discardTemp(final UUID id)
        {
            temps.remove(id);
        }

        @Override
        public void syncDir() throws IOException
        {
            calls.add("syncdir");
            checkNothingAcknowledged();
            if (failDir)
            {
                throw new IOException("EIO");
            }
        }

        private void checkNothingAcknowledged()
        {
            if (mustBePendingAtSync.stream().anyMatch(CompletableFuture::isDone))
            {
                acknowledgedBeforeSync = true;
            }
        }

        long count(final String prefix)
        {
            return calls.stream().filter(c -> c.startsWith(prefix)).count();
        }
    }

    private static GroupCommitWriter.Op save(final UUID id, final String text)
    {
        return new GroupCommitWriter.Op(id, text.getBytes(StandardCharsets.UTF_8), new CompletableFuture<>());
    }

    private static GroupCommitWriter.Op delete(final UUID id)
    {
        return new GroupCommitWriter.Op(id, null, new CompletableFuture<>());
    }

    private GroupCommitWriter writer(final FakeDisk disk, final int capacity)
    {
        final GroupCommitWriter writer = new GroupCommitWriter(disk, capacity, "test-record-writer");
        writers.add(writer);
        return writer;
    }

    @AfterEach
    void closeWriters()
    {
        writers.forEach(GroupCommitWriter::close);
    }

    @Test
    void shouldShareOneSyncAndOneDirectorySyncAcrossTheVmmsOfABatch()
    {
        final FakeDisk disk = new FakeDisk();
        final List<GroupCommitWriter.Op> batch = List.of(save(A, "a1"), save(B, "b1"), save(C, "c1"), delete(new
            UUID(0, 4)));
        batch.forEach(op -> disk.mustBePendingAtSync.add(op.done()));

        GroupCommitWriter.commit(disk, batch);

        assertThat(disk.count("sync ")).isEqualTo(1);
        assertThat(disk.calls).contains("sync 3");
        assertThat(disk.count("syncdir")).isEqualTo(1);
        assertThat(disk.acknowledgedBeforeSync).as("a write acknowledged before its sync").isFalse();
        assertThat(batch).allMatch(op -> op.done().isDone() && !op.done().isCompletedExceptionally());
        assertThat(disk.files).containsEntry(A, "a1").containsEntry(B, "b1").containsEntry(C, "c1");
        // Every temporary file is synced before any rename: a rename never exposes an unsynced record.
        assertThat(disk.calls.indexOf("sync 3")).isLessThan(disk.calls.indexOf("rename 1"));
    }

    @Test
    void shouldApplyAVmmsWritesInOrderAndAcknowledgeEachWhenCoalesced()
    {
        final FakeDisk disk = new FakeDisk();
        final GroupCommitWriter.Op a1 = save(A, "a1");
        final GroupCommitWriter.Op a2 = save(A, "a2");
        final GroupCommitWriter.Op b1 = save(B, "b1");
        final GroupCommitWriter.Op bGone = delete(B);
        final GroupCommitWriter.Op cGone = delete(C);
        final GroupCommitWriter.Op c2 = save(C, "c2");
        disk.files.put(C, "c0");

        GroupCommitWriter.commit(disk, List.of(a1, b1, a2, bGone, cGone, c2));

        assertThat(disk.files).containsEntry(A, "a2").doesNotContainKey(B).containsEntry(C, "c2");
        assertThat(disk.count("temp 1")).as("A written once, its newest").isEqualTo(1);
        assertThat(List.of(a1, a2, b1, bGone, cGone, c2)).allMatch(op -> op.done().isDone()
            && !op.done().isCompletedExceptionally());
    }

    @Test
    void shouldFailOnlyTheVmmWhoseTemporaryFileCannotBeWritten()
    {
        final FakeDisk disk = new FakeDisk();
        disk.failTemp.add(B);
        final GroupCommitWriter.Op a = save(A, "a1");
        final GroupCommitWriter.Op b = save(B, "b1");
        final GroupCommitWriter.Op c = save(C, "c1");

        GroupCommitWriter.commit(disk, List.of(a, b, c));

        assertThat(b.done()).isCompletedExceptionally();
        assertThat(a.done()).isCompleted().isNotCompletedExceptionally();
        assertThat(c.done()).isCompleted().isNotCompletedExceptionally();
        assertThat(disk.files).containsKeys(A, C).doesNotContainKey(B);
        assertThat(disk.temps).as("the short temporary file is discarded").doesNotContainKey(B);
        assertThat(disk.calls).contains("sync 2");
    }

    @Test
    void shouldFailEveryWriteTheFailedSyncCoveredAndRenameNone()
    {
        final FakeDisk disk = new FakeDisk();
        disk.failSync = true;
        disk.files.put(A, "a0");
        final GroupCommitWriter.Op a = save(A, "a1");
        final GroupCommitWriter.Op b = save(B, "b1");

        GroupCommitWriter.commit(disk, List.of(a, b));

        assertThat(a.done()).isCompletedExceptionally();
        assertThat(b.done()).isCompletedExceptionally();
        assertThat(disk.files).as("the old record stays whole").containsEntry(A, "a0").doesNotContainKey(B);
        assertThat(disk.count("rename")).isZero();
    }

    @Test
    void shouldFailTheRenamedWritesWhenTheDirectorySyncFails()
    {
        final FakeDisk disk = new FakeDisk();
        disk.failDir = true;
        final GroupCommitWriter.Op a = save(A, "a1");
        final GroupCommitWriter.Op b = delete(B);

        GroupCommitWriter.commit(disk, List.of(a, b));

        assertThat(a.done()).isCompletedExceptionally();
        assertThat(b.done()).isCompletedExceptionally();
    }

    @Test
    void shouldBatchWhatQueuesWhileASyncIsUnderWay() throws Exception
    {
        final FakeDisk disk = new FakeDisk();
        final CountDownLatch release = new CountDownLatch(1);
        disk.gate = release;
        final GroupCommitWriter writer = writer(disk, 64);

        final CompletableFuture<Void> first = writer.save(A, "a1".getBytes(StandardCharsets.UTF_8));
        assertThat(disk.atGate.await(10, TimeUnit.SECONDS)).as("first batch syncing").isTrue();
        final List<CompletableFuture<Void>> queued = new ArrayList<>();
        for (int i = 0; i < 10; i++)
        {
            queued.add(writer.save(new UUID(1, i), ("v" + i).getBytes(StandardCharsets.UTF_8)));
        }
        disk.mustBePendingAtSync.addAll(queued);
        assertThat(first).as("not acknowledged while its sync is under way").isNotDone();
        assertThat(queued).noneMatch(CompletableFuture::isDone);

        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> queued.stream().allMatch(CompletableFuture::isDone));
        assertThat(first).isCompleted();
        assertThat(disk.acknowledgedBeforeSync).isFalse();
        assertThat(disk.calls).containsSubsequence("sync 1", "sync 10");
        assertThat(writer.counts()).containsExactly(2, 11);
    }

    @Test
    void shouldRefuseAWriteAtOnceWhenTheQueueIsFull() throws Exception
    {
        final FakeDisk disk = new FakeDisk();
        final CountDownLatch release = new CountDownLatch(1);
        disk.gate = release;
        final GroupCommitWriter writer = writer(disk, 2);
        writer.save(A, new byte[] {1});
        assertThat(disk.atGate.await(10, TimeUnit.SECONDS)).isTrue();
        final CompletableFuture<Void> b = writer.save(B, new byte[] {2});
        final CompletableFuture<Void> c = writer.save(C, new byte[] {3});

        final CompletableFuture<Void> refused = writer.save(new UUID(0, 9), new byte[] {4});

        assertThat(refused).isCompletedExceptionally();
        assertThat(refused.handle((ok, ex) -> ex).join()).isInstanceOf(GroupCommitWriter.QueueFullException.class);
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> b.isDone() && c.isDone());
        assertThat(b).isNotCompletedExceptionally();
    }

    @Test
    void shouldDrainWhatIsQueuedOnCloseAndRefuseWritesAfter() throws Exception
    {
        final FakeDisk disk = new FakeDisk();
        final CountDownLatch release = new CountDownLatch(1);
        disk.gate = release;
        final GroupCommitWriter writer = writer(disk, 64);
        writer.save(A, new byte[] {1});
        assertThat(disk.atGate.await(10, TimeUnit.SECONDS)).isTrue();
        final List<CompletableFuture<Void>> queued = new ArrayList<>();
        for (int i = 0; i < 5; i++)
        {
            queued.add(writer.save(new UUID(2, i), new byte[] {(byte)i}));
        }
        final Thread closer = new Thread(writer::close, "closer");
        closer.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> closer.getState() == Thread.State.TIMED_WAITING
            || closer.getState() == Thread.State.WAITING);
        final CompletableFuture<Void> late = writer.save(B, new byte[] {7});
        assertThat(late).as("no write is taken once closing").isCompletedExceptionally();

        release.countDown();
        closer.join(10_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(queued).allMatch(f -> f.isDone() && !f.isCompletedExceptionally());
        assertThat(disk.files).hasSize(6);
    }
}
