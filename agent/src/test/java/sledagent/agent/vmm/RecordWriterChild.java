package sledagent.agent.vmm;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import sledagent.agent.persist.FileVmmStore;

/**
 * The child process of {@link RecordStoreRestartTest}: an agent's record store that the test SIGKILLs. Modes:
 * {@code writes DIR VMMS THREADS}: each thread rewrites its VMMs' records as fast as the store acknowledges them
 * (the sequence number in {@code vmm_pid}), printing {@code ack ID SEQ} after each acknowledgement;
 * {@code kill-ahead DIR ID}: writes ID's running record, journals a force-terminate ahead of the record (as the
 * actor does before killing) and prints {@code killed}, then waits to be killed before the record is written.
 */
public final class RecordWriterChild
{
    static final Instant T0 = Instant.parse("2026-12-03T03:00:00Z");

    private RecordWriterChild()
    {
    }

    /** A running VMM's record: registered, started, observed running. */
    static VmmRecord running(final UUID propolisId)
    {
        VmmRecord record = VmmRecord.registered(propolisId, LifecycleFixtures.body(UUID.randomUUID(),
            LifecycleFixtures.REGISTERED_GEN), T0, 600_000);
        record = VmmLifecycle.apply(record, new Event.RunRequested(), T0).next();
        record = VmmLifecycle.apply(record, new Event.VmmStarted(), T0).next();
        return VmmLifecycle.apply(record, LifecycleFixtures.observed(1,
            sledagent.api.propolis.PropolisInstanceState.Running), T0).next();
    }

    public static void main(final String[] args) throws Exception
    {
        final Path dir = Path.of(args[1]);
        final FileVmmStore store = new FileVmmStore(dir);
        if ("kill-ahead".equals(args[0]))
        {
            final UUID id = UUID.fromString(args[2]);
            store.save(StoredVmm.of(running(id), 4242, 1));
            if (!store.journalKillAhead(id, new KillIntent(KillIntent.Kind.FORCE_TERMINATE, null)))
            {
                throw new IllegalStateException("journal refused the kill");
            }
            System.out.println("killed");
            System.out.flush();
            Thread.sleep(60_000);
            return;
        }
        final int vmms = Integer.parseInt(args[2]);
        final int threads = Integer.parseInt(args[3]);
        final List<Thread> writers = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            final List<VmmRecord> mine = new ArrayList<>();
            for (int v = t; v < vmms; v += threads)
            {
                mine.add(running(new UUID(0, v + 1)));
            }
            final Thread writer = new Thread(() -> rewrite(store, mine), "writer-" + t);
            writer.start();
            writers.add(writer);
        }
        for (final Thread writer : writers)
        {
            writer.join();
        }
    }

    /** Rewrites each record in turn, waiting for each acknowledgement, until killed. */
    private static void rewrite(final FileVmmStore store, final List<VmmRecord> records)
    {
        for (long seq = 1; seq < Long.MAX_VALUE; seq++)
        {
            for (final VmmRecord record : records)
            {
                final CompletableFuture<Void> write = store.saveAsync(StoredVmm.of(record, seq, 1));
                write.join();
                synchronized (System.out)
                {
                    System.out.println("ack " + record.propolisId() + " " + seq);
                    System.out.flush();
                }
            }
        }
    }
}
