package sledagent.hypervisor.qemu;

import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Running;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Base64;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.MachineContext;
import sledagent.hypervisor.server.MigrationOutSession;

/**
 * The source's side of a live migration between two propolis-qemu servers, run on the HTTP thread that upgraded
 * {@code GET /instance/migrate/{id}/start} (the target opened it). Over the {@link MigrationChannel}:
 * <ol>
 *   <li>we send {@code offer} (the instance spec the target builds its QEMU from);</li>
 *   <li>the target answers {@code ready} with the {@code uri} its QEMU listens on ({@code -incoming defer});</li>
 *   <li>QEMU migrates straight to it ({@code migrate}, capabilities {@code events} and
 *       {@code pause-before-switchover}); we publish the phases: RamPush on {@code active}, Pause at
 *       {@code pre-switchover} (vCPUs stopped), RamPushDirty once our {@code migrate-continue} (sent at once) lets
 *       the last dirty pages go, Device on {@code device};</li>
 *   <li>after {@code completed}, the target says {@code loaded} (its QEMU has the whole state, paused); only then we
 *       publish migration_out Finish, then send {@code go} (with com1's history) once Finish has been seen, and
 *       quit QEMU (Destroyed on its exit).</li>
 * </ol>
 * Commit order, the seed's hazard: the target runs the guest only on {@code go}; {@code go} goes out only after
 * Finish is published <em>and some watcher has seen it</em> ({@link MachineContext#onceSeen}): the agent asking
 * its state-monitor for the generation after Finish (it has taken Finish in), or a look at generation 0 (the
 * agent's last look before a kill) answered with Finish, in which case {@code go} is written before that answer.
 * So whenever the target may run, whoever decides what to report about this source has seen Finish; a source killed
 * between its Finish and anyone seeing it never sends {@code go}, and its target fails (the agent, whose last look
 * saw no Finish, reports the migration failed: both agree). With no watcher at all, {@code go} goes after
 * {@link #SEEN_MS}.
 *
 * <p>Failure before the commit (the target gone or saying {@code error}, QEMU's {@code failed} or {@code cancelled},
 * a deadline) cancels QEMU's migration if it is under way, makes sure the guest runs again here, and publishes
 * Running with migration_out Error. Every wait is bounded.
 */
final class QemuMigrationOut implements MigrationOutSession
{
    /** The target spawns QEMU and its handshake before it answers {@code ready}. */
    static final long READY_MS = 30_000;
    /** Longest silence from QEMU (no MIGRATION or MIGRATION_PASS event) while the state moves. */
    static final long STALL_MS = 30_000;
    /** After QEMU's {@code completed}, how long the target may take to say {@code loaded}. */
    static final long LOADED_MS = 10_000;
    /** How long {@code migrate_cancel} may take to end the migration. */
    static final long CANCEL_MS = 5_000;
    /** Bound on each QMP call. */
    static final long CALL_MS = 2_000;
    /** How long {@code go} waits for a watcher (the agent) to have seen Finish; then it goes all the same. */
    static final long SEEN_MS = 10_000;
    private static final int FIGURES_RETRIES = 20;
    private static final long FIGURES_RETRY_MS = 5;

    private final QemuMachine machine;
    private final MachineContext ctx;
    private final UUID id;
    private final QmpClient qmp;
    private final MigrationInbox inbox = new MigrationInbox("target");
    private final long holdSwitchoverMs;
    // Driver thread only.
    private boolean migrateSent;
    private boolean qemuCompleted;
    private boolean committed;
    private String targetAddr = "";
    private PropolisMigrationState published = PropolisMigrationState.Sync;

    QemuMigrationOut(final QemuMachine machine, final MachineContext ctx, final UUID id, final QmpClient qmp,
        final long holdSwitchoverMs)
    {
        this.holdSwitchoverMs = holdSwitchoverMs;
        this.machine = machine;
        this.ctx = ctx;
        this.id = id;
        this.qmp = qmp;
    }

    /** A QEMU event, from QMP's reader thread. */
    void offer(final QmpEvent event)
    {
        // MIGRATION_PASS only proves progress (a long RAM push sends no other event).
        if (event.name().equals("MIGRATION") || event.name().equals("MIGRATION_PASS"))
        {
            inbox.offer(event);
        }
    }

    @Override
    public void run(final InputStream in, final OutputStream out, final Runnable close)
    {
        try (MigrationChannel channel = new MigrationChannel(in, out, close, inbox::offer, "qemu-migrate-out"))
        {
            channel.start();
            try
            {
                drive(channel);
            }
            catch (final MigrationInbox.Failure | IOException | QmpException e)
            {
                fail(channel, e.getMessage());
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                fail(channel, "interrupted");
            }
        }
    }

    private void drive(final MigrationChannel channel)
        throws MigrationInbox.Failure, IOException, QmpException, InterruptedException
    {
        final ObjectNode offer = MigrationChannel.message("offer").put("migration_id", id.toString());
        ctx.lock();
        try
        {
            offer.set("spec", machine.spec().deepCopy());
        }
        finally
        {
            ctx.unlock();
        }
        channel.send(offer);
        final MigrationChannel.Message ready = inbox.expect("ready", MigrationInbox.deadline(READY_MS));
        final String uri = ready.body().path("uri").asText("");
        targetAddr = ready.body().path("propolis_addr").asText("");
        if (!uri.startsWith("tcp:"))
        {
            throw new MigrationInbox.Failure("the target's ready has no tcp uri: " + ready.body());
        }
        qmp.execute("migrate-set-capabilities", capabilities(), CALL_MS);
        qmp.execute("migrate", Json.mapper().createObjectNode().put("uri", uri), CALL_MS);
        migrateSent = true;
        // The target's "loaded" and our QEMU's "completed" race: the target's QEMU may finish loading, and the
        // target say so, before this side's QMP event is read. Either order is the same outcome.
        boolean loaded = false;
        while (!qemuCompleted)
        {
            final Object item = inbox.next(MigrationInbox.deadline(STALL_MS), "QEMU's migration to move on");
            if (item instanceof QmpEvent event)
            {
                onQemuEvent(event);
            }
            else if (item instanceof MigrationChannel.Message message && message.type().equals("loaded"))
            {
                loaded = true;
            }
            else
            {
                throw inbox.endedBy(item);
            }
        }
        if (!loaded)
        {
            inbox.expect("loaded", MigrationInbox.deadline(LOADED_MS));
        }
        commit(channel);
    }

    private void onQemuEvent(final QmpEvent event) throws MigrationInbox.Failure, QmpException, InterruptedException
    {
        switch (event.name())
        {
            case "MIGRATION" ->
            {
                final String status = event.data().path("status").asText("");
                switch (status)
                {
                    case "active" -> publish(PropolisMigrationState.RamPush);
                    case "pre-switchover" ->
                    {
                        // The vCPUs stopped just before this event (QEMU's clock; the target logs its RESUME).
                        ctx.log("migration out " + id + ": vCPUs stopped at " + epochMicros(event) + " us");
                        publish(PropolisMigrationState.Pause);
                        holdSwitchover();
                        qmp.execute("migrate-continue",
                            Json.mapper().createObjectNode().put("state", "pre-switchover"), CALL_MS);
                        // The pages dirtied since the last pass go now, with the vCPUs stopped.
                        publish(PropolisMigrationState.RamPushDirty);
                    }
                    case "device" -> publish(PropolisMigrationState.Device);
                    case "completed" -> qemuCompleted = true;
                    case "failed", "cancelled" -> throw new MigrationInbox.Failure("QEMU's migration " + status
                        + failureDetail());
                    default ->
                    {
                        // setup, cancelling, ...: no new phase.
                    }
                }
            }
            default ->
            {
                // Not the migration's.
            }
        }
    }

    /**
     * {@code --hold-switchover-ms} (tests): the guest stays paused here for that long, unless the target goes away
     * (then the migration fails at once).
     */
    private void holdSwitchover() throws MigrationInbox.Failure, InterruptedException
    {
        final long deadlineNs = MigrationInbox.deadline(holdSwitchoverMs);
        while (holdSwitchoverMs > 0 && deadlineNs - System.nanoTime() > 0)
        {
            final Object item;
            try
            {
                item = inbox.next(deadlineNs, "the hold");
            }
            catch (final MigrationInbox.Failure timedOut)
            {
                return;
            }
            if (!(item instanceof QmpEvent))
            {
                throw inbox.endedBy(item);
            }
        }
    }

    /**
     * The target has the VM: Finish published, then {@code go} as soon as a watcher has seen Finish (see the class
     * comment), then QEMU quits (after its figures are logged).
     */
    private void commit(final MigrationChannel channel) throws InterruptedException
    {
        // The guest is paused for good here: the history is complete.
        final SerialRing.Snapshot history = machine.ring().export();
        final ObjectNode go = MigrationChannel.message("go")
            .put("serial_head", Base64.getEncoder().encodeToString(history.head()))
            .put("serial_tail", Base64.getEncoder().encodeToString(history.tail()))
            .put("serial_total", history.total());
        final AtomicBoolean goSent = new AtomicBoolean();
        final CompletableFuture<Void> seen = new CompletableFuture<>();
        final Runnable sendGo = () ->
        {
            if (goSent.compareAndSet(false, true))
            {
                channel.sendQuietly(go);
            }
            seen.complete(null);
        };
        ctx.lock();
        try
        {
            committed = true;
            ctx.publish(Migrating, null, status(PropolisMigrationState.Finish));
            ctx.onceSeen(ctx.latest().gen(), sendGo);
        }
        finally
        {
            ctx.unlock();
        }
        try
        {
            seen.get(SEEN_MS, TimeUnit.MILLISECONDS);
        }
        catch (final TimeoutException | ExecutionException e)
        {
            ctx.log("migration out " + id + ": nobody has seen Finish within " + SEEN_MS + " ms: go all the same");
            sendGo.run();
        }
        if (!targetAddr.isEmpty())
        {
            machine.qemuSerialPort().migrated(targetAddr, history.total());
        }
        // Off the guest's critical path: the target has its go already.
        logFigures();
        ctx.lock();
        try
        {
            machine.quitAfterMigration();
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** Before the commit: the guest goes on here (migration_out Error); after it, only a log line. */
    private void fail(final MigrationChannel channel, final String reason)
    {
        if (committed)
        {
            ctx.log("migration out " + id + ": after Finish: " + reason);
            return;
        }
        ctx.log("migration out " + id + " failed: " + reason);
        channel.sendQuietly(MigrationChannel.message("error").put("message", reason));
        channel.close();
        try
        {
            if (migrateSent && !qemuCompleted)
            {
                cancelQemu();
            }
            resumeIfPaused();
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        ctx.lock();
        try
        {
            // A QEMU that is gone is Failed by its exit, not Running here.
            if (ctx.latest().state() == Migrating && qmp.isOpen())
            {
                ctx.publish(Running, null, status(PropolisMigrationState.Error));
            }
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** {@code migrate_cancel}, then (bounded) until QEMU says the migration is over. */
    private void cancelQemu() throws InterruptedException
    {
        try
        {
            qmp.execute("migrate_cancel", null, CALL_MS);
            final long deadlineNs = MigrationInbox.deadline(CANCEL_MS);
            while (true)
            {
                final Object item = inbox.next(deadlineNs, "migrate_cancel to end the migration");
                if (item instanceof QmpEvent event && event.name().equals("MIGRATION"))
                {
                    final String status = event.data().path("status").asText("");
                    if (status.equals("cancelled") || status.equals("failed") || status.equals("completed"))
                    {
                        return;
                    }
                }
            }
        }
        catch (final QmpException | MigrationInbox.Failure e)
        {
            ctx.log("migration out " + id + ": cancel: " + e.getMessage());
        }
    }

    /** QEMU resumes the guest itself after a failed or cancelled migration; a VM left paused is resumed here. */
    private void resumeIfPaused() throws InterruptedException
    {
        try
        {
            final String status = qmp.execute("query-status", null, CALL_MS).path("status").asText("");
            if (status.equals("paused") || status.equals("postmigrate") || status.equals("finish-migrate"))
            {
                ctx.log("migration out " + id + ": QEMU left in " + status + ": cont");
                qmp.execute("cont", null, CALL_MS);
            }
        }
        catch (final QmpException e)
        {
            ctx.log("migration out " + id + ": cannot resume the guest: " + e.getMessage());
        }
    }

    /** QEMU's own account of the finished migration, one log line (perf/RESULTS.md reads it). */
    private void logFigures() throws InterruptedException
    {
        try
        {
            // QEMU emits `completed` a moment before it computes the times (0 until then): ask again, bounded.
            JsonNode info = qmp.execute("query-migrate", null, CALL_MS);
            for (int retry = 0; retry < FIGURES_RETRIES && info.path("total-time").asLong(-1) == 0; retry++)
            {
                Thread.sleep(FIGURES_RETRY_MS);
                info = qmp.execute("query-migrate", null, CALL_MS);
            }
            ctx.log("migration out " + id + ": QEMU total-time " + info.path("total-time").asLong(-1)
                + " ms, downtime " + info.path("downtime").asLong(-1) + " ms, setup-time "
                + info.path("setup-time").asLong(-1) + " ms, ram transferred "
                + info.at("/ram/transferred").asLong(-1) + " B, dirty-sync-count "
                + info.at("/ram/dirty-sync-count").asLong(-1));
        }
        catch (final QmpException e)
        {
            ctx.log("migration out " + id + ": query-migrate: " + e.getMessage());
        }
    }

    private String failureDetail()
    {
        try
        {
            final JsonNode info = qmp.execute("query-migrate", null, CALL_MS);
            return info.hasNonNull("error-desc") ? ": " + info.get("error-desc").asText() : "";
        }
        catch (final QmpException | InterruptedException e)
        {
            if (e instanceof InterruptedException)
            {
                Thread.currentThread().interrupt();
            }
            return "";
        }
    }

    private void publish(final PropolisMigrationState phase)
    {
        if (phase == published)
        {
            return;
        }
        published = phase;
        ctx.lock();
        try
        {
            if (ctx.latest().state() == Migrating)
            {
                ctx.publish(Migrating, null, status(phase));
            }
        }
        finally
        {
            ctx.unlock();
        }
    }

    static long epochMicros(final QmpEvent event)
    {
        return event.timestamp().getEpochSecond() * 1_000_000 + event.timestamp().getNano() / 1_000;
    }

    private InstanceMigrationStatus status(final PropolisMigrationState phase)
    {
        return new InstanceMigrationStatus(id, phase);
    }

    private static ObjectNode capabilities()
    {
        final ObjectNode arguments = Json.mapper().createObjectNode();
        final ArrayNode list = arguments.putArray("capabilities");
        list.addObject().put("capability", "events").put("state", true);
        list.addObject().put("capability", "pause-before-switchover").put("state", true);
        return arguments;
    }
}
