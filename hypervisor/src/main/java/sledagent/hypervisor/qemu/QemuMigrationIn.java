package sledagent.hypervisor.qemu;

import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Running;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import sledagent.api.Json;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.ListenAddress;
import sledagent.hypervisor.server.MachineContext;
import sledagent.hypervisor.server.MigrationOutSession;
import sledagent.hypervisor.server.PropolisHttpHandler;
import sledagent.hypervisor.server.PropolisRefusal;

/**
 * The target's side of a live migration between two propolis-qemu servers, on its own thread from the ensure with
 * the MigrationTarget init method: it opens {@code GET /instance/migrate/{id}/start} on the source, upgraded to
 * {@link MigrationOutSession#UPGRADE} (see {@link QemuMigrationOut} for the conversation), builds QEMU from the
 * spec the source offers with {@code -incoming defer}, has it listen ({@code migrate-incoming tcp:HOST:0}, HOST the
 * address this server reaches the source from) and tells the source the port. Phases published as migration_in:
 * Sync (at ensure), RamPush when QEMU's incoming migration is {@code active}, Device once QEMU has the whole state
 * (it stays paused: {@code -S}), Resume on the source's {@code go} (com1's history taken in, then {@code cont}),
 * and Running with Finish on QEMU's {@code RESUME}.
 *
 * <p>Anything else (the source refuses or goes away before {@code go}, QEMU fails the load and exits, a deadline, a
 * Stop) ends in Failed with migration_in Error and QEMU killed: without {@code go} the source may still run the
 * guest, so this side must never start it.
 */
final class QemuMigrationIn
{
    /** Connecting to the source, and its answer to the upgrade. */
    static final long CONNECT_MS = 5_000;
    /** The source sends its offer at once after the 101. */
    static final long OFFER_MS = 10_000;
    /** QEMU's spawn and QMP handshake, under TCG and a loaded host. */
    static final long LAUNCH_MS = 20_000;
    /** Longest silence from QEMU (no MIGRATION event) while the state moves in. */
    static final long STALL_MS = 60_000;
    /** After {@code loaded}, how long the source may take to say {@code go} (it waits up to 10 s for a watcher). */
    static final long GO_MS = QemuMigrationOut.SEEN_MS + 10_000;
    /** From {@code cont} to QEMU's RESUME. */
    static final long RESUME_MS = 5_000;
    /** Bound on each QMP call. */
    static final long CALL_MS = 2_000;
    /** Bound on the source's answer head (a refusal's body included). */
    private static final int MAX_HEAD_BYTES = 64 * 1024;

    private final QemuMachine machine;
    private final MachineContext ctx;
    private final UUID id;
    private final String srcAddr;
    private final int port;
    private final MigrationInbox inbox = new MigrationInbox("source");
    // Guarded by the instance lock.
    private boolean done;

    QemuMigrationIn(final QemuMachine machine, final MachineContext ctx, final UUID id, final String srcAddr,
        final int port)
    {
        this.port = port;
        this.machine = machine;
        this.ctx = ctx;
        this.id = id;
        this.srcAddr = srcAddr;
    }

    UUID id()
    {
        return id;
    }

    /** Starts the driver thread. */
    void start()
    {
        final Thread thread = new Thread(this::run, "qemu-migrate-in");
        thread.setDaemon(true);
        thread.start();
    }

    /** A QEMU event, from QMP's reader thread. */
    void offer(final QmpEvent event)
    {
        if (event.name().equals("MIGRATION") || event.name().equals("MIGRATION_PASS")
            || event.name().equals("RESUME"))
        {
            inbox.offer(event);
        }
    }

    /**
     * Ends the migration from outside (a Stop, QEMU gone). Call with the lock held.
     *
     * @return true if it was still under way (the caller publishes its Error)
     */
    boolean abort()
    {
        if (done)
        {
            return false;
        }
        done = true;
        inbox.offer(new MigrationInbox.Aborted("aborted"));
        return true;
    }

    private void run()
    {
        Socket socket = null;
        MigrationChannel channel = null;
        try
        {
            socket = connect();
            final Socket connected = socket;
            channel = new MigrationChannel(socket.getInputStream(), socket.getOutputStream(), () ->
            {
                try
                {
                    connected.close();
                }
                catch (final IOException e)
                {
                    // Closing is best effort.
                }
            }, inbox::offer, "qemu-migrate-in-read").start();
            drive(channel, socket.getLocalAddress());
        }
        catch (final MigrationInbox.Failure | IOException | QmpException | PropolisRefusal e)
        {
            fail(channel, e.getMessage());
        }
        catch (final InterruptedException e)
        {
            fail(channel, "interrupted");
        }
        finally
        {
            if (channel != null)
            {
                channel.close();
            }
            else if (socket != null)
            {
                try
                {
                    socket.close();
                }
                catch (final IOException e)
                {
                    // Nothing to do.
                }
            }
        }
    }

    private void drive(final MigrationChannel channel, final InetAddress localAddress)
        throws MigrationInbox.Failure, IOException, QmpException, PropolisRefusal, InterruptedException
    {
        final MigrationChannel.Message offer = inbox.expect("offer", MigrationInbox.deadline(OFFER_MS));
        if (!(offer.body().get("spec") instanceof ObjectNode spec))
        {
            throw new MigrationInbox.Failure("the source's offer has no spec");
        }
        ctx.lock();
        try
        {
            if (done)
            {
                throw new MigrationInbox.Failure("aborted before launch");
            }
            machine.launch(spec, true);
        }
        finally
        {
            ctx.unlock();
        }
        final QmpClient qmp;
        try
        {
            qmp = machine.qmpReady().get(LAUNCH_MS, TimeUnit.MILLISECONDS);
        }
        catch (final ExecutionException | TimeoutException e)
        {
            throw new MigrationInbox.Failure("QEMU did not come up: " + e);
        }
        final ObjectNode capabilities = Json.mapper().createObjectNode();
        final ArrayNode list = capabilities.putArray("capabilities");
        list.addObject().put("capability", "events").put("state", true);
        qmp.execute("migrate-set-capabilities", capabilities, CALL_MS);
        final String host = localAddress instanceof Inet6Address ? "[" + localAddress.getHostAddress() + "]"
            : localAddress.getHostAddress();
        qmp.execute("migrate-incoming", Json.mapper().createObjectNode().put("uri", "tcp:" + host + ":0"), CALL_MS);
        final int qemuPort = listeningPort(qmp.execute("query-migrate", null, CALL_MS));
        channel.send(MigrationChannel.message("ready").put("uri", "tcp:" + host + ":" + qemuPort)
            .put("propolis_addr", host + ":" + port));

        boolean loaded = false;
        while (!loaded)
        {
            final Object item = inbox.next(MigrationInbox.deadline(STALL_MS), "QEMU's incoming migration");
            if (!(item instanceof QmpEvent event))
            {
                throw inbox.endedBy(item);
            }
            if (event.name().equals("MIGRATION"))
            {
                final String status = event.data().path("status").asText("");
                switch (status)
                {
                    case "active" -> publish(PropolisMigrationState.RamPush, false);
                    case "completed" -> loaded = true;
                    case "failed", "cancelled" -> throw new MigrationInbox.Failure("QEMU's incoming migration "
                        + status);
                    default ->
                    {
                        // setup: no new phase.
                    }
                }
            }
        }
        publish(PropolisMigrationState.Device, false);
        channel.send(MigrationChannel.message("loaded"));
        final MigrationChannel.Message go = inbox.expect("go", MigrationInbox.deadline(GO_MS));
        restoreSerial(go.body());
        publish(PropolisMigrationState.Resume, false);
        qmp.execute("cont", null, CALL_MS);
        final long deadlineNs = MigrationInbox.deadline(RESUME_MS);
        while (true)
        {
            final Object item = inbox.next(deadlineNs, "QEMU's RESUME");
            if (item instanceof QmpEvent event && event.name().equals("RESUME"))
            {
                ctx.log("migration in " + id + ": vCPUs resumed at " + QemuMigrationOut.epochMicros(event) + " us");
                break;
            }
            if (item instanceof MigrationInbox.Aborted aborted)
            {
                throw new MigrationInbox.Failure(aborted.why());
            }
            // The source hanging up after go changes nothing now.
        }
        publish(PropolisMigrationState.Finish, true);
    }

    /**
     * The source's com1 history becomes ours, offsets and all, so that history after a migration holds what came
     * before and a client resumes at the {@code from_start} the source told it.
     */
    private void restoreSerial(final JsonNode go)
    {
        if (!go.has("serial_total"))
        {
            return;
        }
        try
        {
            machine.ring().restore(new SerialRing.Snapshot(Base64.getDecoder().decode(go.path("serial_head").asText()),
                Base64.getDecoder().decode(go.path("serial_tail").asText()), go.path("serial_total").asLong()));
        }
        catch (final IllegalArgumentException | IllegalStateException e)
        {
            ctx.log("migration in " + id + ": serial history not taken: " + e.getMessage());
        }
    }

    /** Connects and upgrades; a refusal of the source (its 403, 404, ...) is a failure naming it. */
    private Socket connect() throws IOException, MigrationInbox.Failure
    {
        final InetSocketAddress address;
        try
        {
            address = ListenAddress.parse(srcAddr);
        }
        catch (final IllegalArgumentException e)
        {
            throw new MigrationInbox.Failure("bad src_addr " + srcAddr + ": " + e.getMessage());
        }
        final Socket socket = new Socket();
        try
        {
            socket.connect(address, (int) CONNECT_MS);
            socket.setSoTimeout((int) CONNECT_MS);
            socket.setTcpNoDelay(true);
            final OutputStream out = socket.getOutputStream();
            out.write(("GET /instance/migrate/" + id + "/start HTTP/1.1\r\nhost: " + srcAddr
                + "\r\napi-version: " + PropolisHttpHandler.API_VERSION + "\r\nconnection: Upgrade\r\nupgrade: "
                + MigrationOutSession.UPGRADE + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            final String head = readHead(socket.getInputStream());
            final String statusLine = head.lines().findFirst().orElse("");
            if (!statusLine.startsWith("HTTP/1.1 101"))
            {
                throw new MigrationInbox.Failure("the source refused: " + statusLine + " " + body(socket, head));
            }
            socket.setSoTimeout(0);
            return socket;
        }
        catch (final IOException | MigrationInbox.Failure | RuntimeException e)
        {
            socket.close();
            throw e;
        }
    }

    /** The answer's head, byte by byte (what follows it belongs to the channel). */
    private static String readHead(final InputStream in) throws IOException
    {
        final ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4)
        {
            final int b = in.read();
            if (b < 0 || head.size() >= MAX_HEAD_BYTES)
            {
                throw new IOException("no answer head from the source");
            }
            head.write(b);
            matched = b == "\r\n\r\n".charAt(matched) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    /** A refusal's body (Dropshot's error JSON), bounded, for the log. */
    private static String body(final Socket socket, final String head)
    {
        for (final String line : head.split("\r\n"))
        {
            final String lower = line.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:"))
            {
                try
                {
                    final int length = Math.min(MAX_HEAD_BYTES, Integer.parseInt(line.substring(15).strip()));
                    return new String(socket.getInputStream().readNBytes(length), StandardCharsets.UTF_8);
                }
                catch (final IOException | NumberFormatException e)
                {
                    return "";
                }
            }
        }
        return "";
    }

    /** QEMU's port for {@code tcp:HOST:0}, from {@code query-migrate}'s {@code socket-address}. */
    private static int listeningPort(final JsonNode info) throws MigrationInbox.Failure
    {
        for (final JsonNode address : info.path("socket-address"))
        {
            final int port = address.path("port").asInt(0);
            if (port > 0)
            {
                return port;
            }
        }
        throw new MigrationInbox.Failure("QEMU did not say where it listens: " + info);
    }

    /** Publishes a migration_in phase while the migration is ours to report; {@code last} also means Running. */
    private void publish(final PropolisMigrationState phase, final boolean last) throws MigrationInbox.Failure
    {
        ctx.lock();
        try
        {
            if (done || ctx.latest().state() != Migrating)
            {
                throw new MigrationInbox.Failure("aborted");
            }
            if (last)
            {
                done = true;
            }
            ctx.publish(last ? Running : Migrating, new InstanceMigrationStatus(id, phase), null);
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** No VM here: QEMU killed, Failed with migration_in Error (unless a Stop or QEMU's exit said so first). */
    private void fail(final MigrationChannel channel, final String reason)
    {
        if (channel != null)
        {
            channel.sendQuietly(MigrationChannel.message("error").put("message", reason));
        }
        ctx.lock();
        try
        {
            machine.killQemu();
            if (done)
            {
                return;
            }
            done = true;
            ctx.log("migration in " + id + " from " + srcAddr + " failed: " + reason);
            ctx.publish(Failed, new InstanceMigrationStatus(id, PropolisMigrationState.Error), null);
        }
        finally
        {
            ctx.unlock();
        }
    }
}
