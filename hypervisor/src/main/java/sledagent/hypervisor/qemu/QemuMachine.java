package sledagent.hypervisor.qemu;

import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Migrating;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.InstanceMigrationStatus;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.api.propolis.PropolisMigrationState;
import sledagent.hypervisor.server.Machine;
import sledagent.hypervisor.server.MachineContext;
import sledagent.hypervisor.server.MigrationOutSession;
import sledagent.hypervisor.server.PropolisRefusal;
import sledagent.hypervisor.server.SerialHistory;
import sledagent.hypervisor.server.SerialPort;
import sledagent.hypervisor.server.SerialQuery;

/**
 * A VM run by {@code qemu-system-x86_64}, this server's direct child, driven over QMP on its stdio
 * ({@link QmpClient}); the {@link Machine} of propolis-qemu.
 *
 * <ul>
 *   <li>Creating: QEMU spawned with {@code -S} at ensure; the QMP handshake runs on its own thread.</li>
 *   <li>Run: Starting, {@code cont}; Running on {@code RESUME}.</li>
 *   <li>Stop (Propolis's hard halt): Stopping (Stopped if the VM never ran), {@code stop} then {@code quit}; a
 *       QEMU that has not exited {@link #KILL_AFTER_MS} after the Stop is SIGKILLed; Stopped, then Destroyed once
 *       QEMU has exited and its sockets are gone (a crash's Failed goes out before that clean-up).</li>
 *   <li>Reboot: Rebooting, {@code system_reset}, Running when QEMU has answered. A guest reset ({@code RESET} with
 *       {@code guest: true}) publishes Rebooting and Running at once; QEMU's burst of RESETs within
 *       {@link #RESET_FOLD_MS} of each other counts once.</li>
 *   <li>A guest poweroff ({@code SHUTDOWN}, {@code guest: true}): Stopping, then as a Stop.</li>
 *   <li>QEMU gone without a {@code SHUTDOWN} (killed, crashed), a failed {@code cont}, {@code GUEST_PANICKED} or
 *       an unasked pause in {@code internal-error}: Failed (QEMU killed if still there).</li>
 *   <li>Live migration: out through {@link QemuMigrationOut} (on {@code GET /instance/migrate/{id}/start}), in
 *       through {@link QemuMigrationIn} (a MigrationTarget ensure: QEMU launched with {@code -incoming defer} once
 *       the source has sent the spec). A VM that ends (Failed, Stopped) with a migration under way ends it in
 *       Error; a VM migrated out ends Destroyed when its QEMU has quit.</li>
 * </ul>
 * QEMU's exit is seen by a thread of its own blocked in {@link Process#waitFor()}, never by polling (not
 * {@link Process#onExit()}: on two cores its completion runs on a new thread per call, a hop on every crash's
 * path). Every QMP call is bounded.
 */
final class QemuMachine implements Machine
{
    /** How long the QMP greeting and capabilities may take. */
    static final long HANDSHAKE_MS = 5_000;
    /** Bound on {@code cont}, {@code system_reset}, {@code query-status}. */
    static final long CALL_MS = 1_000;
    /** From a Stop (or a guest poweroff) to SIGKILL of a QEMU that is still there. */
    static final long KILL_AFTER_MS = 1_000;
    /** RESET events closer than this to the previous one belong to the same reset. */
    static final long RESET_FOLD_MS = 250;
    /** After QEMU's exit, how long to wait for QMP's end of stream (its last events) before deciding. */
    private static final long EOF_AFTER_EXIT_MS = 1_000;

    private final MachineContext ctx;
    private final ScheduledExecutorService timer;
    private final QemuOptions config;
    private final String name;
    private final SerialRing ring;
    private final QemuSerialPort serialPort;
    private final Path runDir;
    private final CompletableFuture<Void> eof = new CompletableFuture<>();
    /** The QMP client once the handshake is done; failed if it never will be. */
    private final CompletableFuture<QmpClient> qmpReady = new CompletableFuture<>();
    // Guarded by the instance lock.
    private Process qemu;
    private SerialConsole console;
    private ObjectNode spec;
    private QmpClient qmp;
    private boolean startAsked;
    private boolean haltAsked;
    private boolean shutdownSeen;
    private boolean resumed;
    private long lastResetNs;
    private QemuMigrationIn migrationIn;
    private QemuMigrationOut migrationOut;

    private QemuMachine(final MachineContext ctx, final ScheduledExecutorService timer, final QemuOptions config,
        final String name, final Path runDir)
    {
        this.ctx = ctx;
        this.timer = timer;
        this.config = config;
        this.name = name;
        this.runDir = runDir;
        this.ring = new SerialRing();
        this.serialPort = new QemuSerialPort(ring);
    }

    /**
     * The factory's work at the first ensure. From a spec: the spec checked and turned into QEMU's argv (a component
     * QEMU cannot honour is a 400 naming it), QEMU spawned paused, the serial reader and the QMP handshake started.
     * As a migration target: nothing is spawned yet; a {@link QemuMigrationIn} starts (once the lock is released)
     * and launches QEMU with {@code -incoming defer} from the spec the source sends.
     *
     * @param request the ensure request
     * @param ctx     the instance
     * @param config  the server's command line
     * @param port    the port the server listens on (a migration target tells its source)
     * @param timer   for the kill deadline
     * @return the machine
     * @throws PropolisRefusal 400 for a spec it cannot run; 500 if QEMU cannot be spawned
     */
    static QemuMachine create(final InstanceEnsureRequest request, final MachineContext ctx,
        final QemuOptions config, final int port, final ScheduledExecutorService timer) throws PropolisRefusal
    {
        final Path runDir = config.runDir().resolve(request.properties().id().toString().substring(0, 8));
        final QemuMachine machine = new QemuMachine(ctx, timer, config, request.properties().name(), runDir);
        if (request.init() instanceof InstanceInitializationMethod.MigrationTarget target)
        {
            final QemuMigrationIn in = new QemuMigrationIn(machine, ctx, target.value().migrationId(),
                target.value().srcAddr(), port);
            machine.migrationIn = in;
            ctx.afterUnlock(in::start);
            return machine;
        }
        if (!(request.init() instanceof InstanceInitializationMethod.Spec fromSpec))
        {
            throw new IllegalStateException("unreachable: " + request.init());
        }
        machine.launch(fromSpec.value().spec(), false);
        return machine;
    }

    /**
     * Spawns QEMU for {@code vmSpec}, paused, with the serial reader and the QMP handshake on their own threads.
     * Called with the lock held (at ensure, or by the migration in once the source has sent the spec).
     *
     * @param vmSpec   the instance spec
     * @param incoming true for a migration target ({@code -incoming defer})
     * @throws PropolisRefusal 400 for a spec QEMU cannot honour; 500 if QEMU cannot be spawned
     */
    void launch(final ObjectNode vmSpec, final boolean incoming) throws PropolisRefusal
    {
        QemuCommandLine commandLine;
        try
        {
            Files.createDirectories(runDir);
            commandLine = QemuCommandLine.build(vmSpec, new QemuCommandLine.Options(
                config.qemuBinary(), name, runDir, config.boot(), config.accel(), null));
        }
        catch (final IllegalArgumentException e)
        {
            deleteQuietly(runDir);
            throw PropolisRefusal.badRequest("unsupported instance spec: " + e.getMessage());
        }
        catch (final IOException e)
        {
            throw new PropolisRefusal(500, "CreateFailed", "cannot make " + runDir + ": " + e);
        }
        if (incoming)
        {
            commandLine = commandLine.withIncomingDefer();
        }
        ctx.log("accelerator " + config.accel().accel() + " (" + config.accel().reason() + ")");
        ctx.log("qemu argv: " + commandLine.toShellLine());
        final Process process;
        try
        {
            process = new ProcessBuilder(commandLine.argv())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        }
        catch (final IOException e)
        {
            deleteQuietly(runDir);
            throw new PropolisRefusal(500, "CreateFailed", "cannot start " + config.qemuBinary() + ": " + e);
        }
        spec = vmSpec;
        qemu = process;
        final Path com1 = commandLine.serialSockets().get("com1");
        console = com1 == null ? null
            : SerialConsole.start(com1, name + "-com1", ring, serialPort::outputArrived, HANDSHAKE_MS);
        serialPort.attach(console);
        final Thread handshake = new Thread(this::handshake, "qemu-handshake");
        handshake.setDaemon(true);
        handshake.start();
        final Thread exitWatch = new Thread(() ->
        {
            try
            {
                process.waitFor();
                exited();
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }, "qemu-exit");
        exitWatch.setDaemon(true);
        exitWatch.start();
    }

    /** QEMU's process (for tests: its pid), or null before a migration target has launched it. */
    ProcessHandle process()
    {
        ctx.lock();
        try
        {
            return qemu == null ? null : qemu.toHandle();
        }
        finally
        {
            ctx.unlock();
        }
    }

    /** The QMP client once QEMU has answered its handshake (fails if it never will). */
    CompletableFuture<QmpClient> qmpReady()
    {
        return qmpReady;
    }

    /** com1's ring (the migration moves its history). */
    SerialRing ring()
    {
        return ring;
    }

    /** com1 for the WebSocket sessions (told where the VM went when it migrates out). */
    QemuSerialPort qemuSerialPort()
    {
        return serialPort;
    }

    /** The spec the VM runs (the source sends it to the target); null before launch. Call with the lock held. */
    ObjectNode spec()
    {
        return spec;
    }

    /** True once a halt was asked (a Stop on a migration target ends its migration). Call with the lock held. */
    boolean haltAsked()
    {
        return haltAsked;
    }

    /** Kills QEMU now, if there is one (a failed migration in). Call with the lock held. */
    void killQemu()
    {
        if (qemu != null)
        {
            qemu.destroyForcibly();
        }
    }

    /**
     * The source has handed the VM to the target (migration_out Finish is published): QEMU, paused in
     * {@code postmigrate}, is quit; its exit then publishes Destroyed. Call with the lock held.
     */
    void quitAfterMigration()
    {
        halt();
    }

    @Override
    public MigrationOutSession migrateOut(final UUID migrationId) throws PropolisRefusal
    {
        if (qmp == null || spec == null)
        {
            throw PropolisRefusal.forbidden("Instance is currently starting");
        }
        final QemuMigrationOut out = new QemuMigrationOut(this, ctx, migrationId, qmp, config.holdSwitchoverMs());
        migrationOut = out;
        ctx.publish(Migrating, null, new InstanceMigrationStatus(migrationId, PropolisMigrationState.Sync));
        return out;
    }

    @Override
    public void start()
    {
        ctx.publish(Starting);
        startAsked = true;
        if (qmp != null)
        {
            cont();
        }
        // Else the handshake sends it once done.
    }

    @Override
    public void stop(final PropolisInstanceState from)
    {
        // A migration target that has not finished: its migration in ends in Error with the Stop.
        final InstanceMigrationStatus inError = migrationIn != null && migrationIn.abort()
            ? new InstanceMigrationStatus(migrationIn.id(), PropolisMigrationState.Error) : null;
        // A VM that never ran has nothing to stop: straight to Stopped, as Propolis does.
        ctx.publish(resumed ? Stopping : Stopped, inError, null);
        if (qemu == null)
        {
            // A migration target that never launched QEMU: nothing to wait for.
            ctx.publish(Destroyed);
            return;
        }
        halt();
    }

    @Override
    public void reboot()
    {
        ctx.publish(Rebooting);
        lastResetNs = System.nanoTime();
        if (qmp == null)
        {
            return;
        }
        qmp.submit("system_reset", null, CALL_MS).whenComplete((answer, failure) -> locked(() ->
        {
            if (failure != null)
            {
                ctx.log("system_reset failed: " + failure);
            }
            if (ctx.latest().state() == Rebooting)
            {
                ctx.publish(Running);
            }
        }));
    }

    @Override
    public SerialPort serialPort()
    {
        return serialPort;
    }

    @Override
    public SerialHistory serialHistory(final SerialQuery query) throws PropolisRefusal
    {
        try
        {
            final SerialRing.Slice slice = ring.history(query.isFromStart() ? query.fromStart() : null,
                query.isFromStart() ? null : query.mostRecent(), query.maxBytes() < 0 ? null : query.maxBytes());
            return new SerialHistory(slice.data(), slice.endOffset());
        }
        catch (final SerialRing.ExpiredRangeException | IllegalArgumentException e)
        {
            throw PropolisRefusal.badRequest(e.getMessage());
        }
    }

    // ---- QEMU's side ----

    private void handshake()
    {
        final QmpClient client;
        try
        {
            client = QmpClient.overStdio(qemu, "qemu", this::onEvent, () -> eof.complete(null), HANDSHAKE_MS);
        }
        catch (final QmpException e)
        {
            ctx.log("QMP handshake failed: " + e.getMessage());
            qmpReady.completeExceptionally(e);
            eof.complete(null);
            qemu.destroyForcibly();
            return;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            qmpReady.completeExceptionally(e);
            eof.complete(null);
            qemu.destroyForcibly();
            return;
        }
        qmpReady.complete(client);
        locked(() ->
        {
            qmp = client;
            if (haltAsked)
            {
                sendHalt();
            }
            else if (startAsked)
            {
                cont();
            }
        });
    }

    private void cont()
    {
        qmp.submit("cont", null, CALL_MS).whenComplete((answer, failure) ->
        {
            if (failure != null)
            {
                ctx.log("cont failed: " + failure + "; killing QEMU");
                qemu.destroyForcibly();
            }
        });
    }

    /** Stop and guest poweroff alike: {@code stop}, {@code quit}, and SIGKILL if QEMU is still there in time. */
    private void halt()
    {
        if (haltAsked)
        {
            return;
        }
        haltAsked = true;
        timer.schedule(() ->
        {
            if (qemu.isAlive())
            {
                ctx.log("QEMU still there " + KILL_AFTER_MS + " ms after the halt: SIGKILL");
                qemu.destroyForcibly();
            }
        }, KILL_AFTER_MS, TimeUnit.MILLISECONDS);
        if (qmp != null)
        {
            sendHalt();
        }
    }

    private void sendHalt()
    {
        // Pipelined: QMP answers in order, and the kill timer bounds both.
        qmp.submit("stop", null, KILL_AFTER_MS);
        qmp.submit("quit", null, KILL_AFTER_MS);
    }

    private void onEvent(final QmpEvent event)
    {
        locked(() ->
        {
            final PropolisInstanceState state = ctx.latest().state();
            if (!event.name().equals("RESUME") && !event.name().equals("STOP"))
            {
                ctx.log("QMP event " + event.name() + " " + event.data() + " in " + state);
            }
            if (migrationIn != null)
            {
                migrationIn.offer(event);
            }
            if (migrationOut != null)
            {
                migrationOut.offer(event);
            }
            switch (event.name())
            {
                case "RESUME" ->
                {
                    resumed = true;
                    if (state == Starting)
                    {
                        ctx.publish(Running);
                    }
                }
                case "RESET" ->
                {
                    final long now = System.nanoTime();
                    final boolean folded = now - lastResetNs < TimeUnit.MILLISECONDS.toNanos(RESET_FOLD_MS);
                    lastResetNs = now;
                    if (event.guest() && !folded && state == Running)
                    {
                        // The vCPUs never stop for a reset: both states at once.
                        ctx.publish(Rebooting);
                        ctx.publish(Running);
                    }
                }
                case "SHUTDOWN" ->
                {
                    shutdownSeen = true;
                    if (!haltAsked && (state == Running || state == Rebooting || state == Starting))
                    {
                        ctx.publish(Stopping);
                    }
                    halt();
                }
                case "GUEST_PANICKED" -> fail("guest panicked");
                case "STOP" ->
                {
                    if (!haltAsked)
                    {
                        checkStatus();
                    }
                }
                default ->
                {
                    // POWERDOWN, MIGRATION, ...: nothing for Propolis.
                }
            }
        });
    }

    /** An unasked pause: Failed if QEMU says it is in internal-error or guest-panicked. */
    private void checkStatus()
    {
        qmp.submit("query-status", null, CALL_MS).whenComplete((answer, failure) ->
        {
            final String status = failure == null ? answer.path("status").asText("") : "";
            if (status.equals("internal-error") || status.equals("guest-panicked"))
            {
                locked(() -> fail("QEMU status " + status));
            }
        });
    }

    private void fail(final String why)
    {
        final PropolisInstanceState state = ctx.latest().state();
        if (state != Failed && state != Destroyed)
        {
            ctx.log("VM failed: " + why);
            ctx.publish(Failed);
        }
        qemu.destroyForcibly();
    }

    /** QEMU has exited: after its last QMP events, Stopped and Destroyed for a halt, Failed for anything else. */
    private void exited()
    {
        eof.completeOnTimeout(null, EOF_AFTER_EXIT_MS, TimeUnit.MILLISECONDS).thenRun(() ->
        {
            // A crash is published first, then the clean-up: the agent waits for it to tear the zone down. A halt
            // keeps its order (Destroyed once the sockets are gone), which also leaves a watcher time to see the
            // Stopping and Stopped before it.
            final AtomicBoolean crashed = new AtomicBoolean();
            locked(() -> crashed.set(publishIfCrashed()));
            closeQuietly();
            deleteQuietly(runDir);
            if (!crashed.get())
            {
                locked(this::publishHalted);
            }
        });
    }

    /** If QEMU went without a halt asked or a shutdown seen (and did not migrate out): Failed; true if so. */
    private boolean publishIfCrashed()
    {
        final PropolisInstanceState state = ctx.latest().state();
        final InstanceMigrationStatus out = ctx.latest().migration().migrationOut();
        if (state == Failed || state == Destroyed || haltAsked || shutdownSeen
            || out != null && out.state() == PropolisMigrationState.Finish)
        {
            return false;
        }
        final InstanceMigrationStatus in = ctx.latest().migration().migrationIn();
        ctx.publish(Failed, unfinished(in), unfinished(out));
        ctx.log("QEMU exited without a shutdown (status " + qemu.exitValue() + ")");
        if (migrationIn != null)
        {
            migrationIn.abort();
        }
        return true;
    }

    /** QEMU gone after a halt, a guest shutdown or a finished migration out: Stopped (if not yet) and Destroyed. */
    private void publishHalted()
    {
        final PropolisInstanceState state = ctx.latest().state();
        if (state == Failed || state == Destroyed)
        {
            return;
        }
        final InstanceMigrationStatus out = ctx.latest().migration().migrationOut();
        if (out != null && out.state() == PropolisMigrationState.Finish)
        {
            // Migrated out: the VM lives on at the target; here it is simply gone.
            ctx.publish(Destroyed);
            return;
        }
        if (state != Stopped)
        {
            // A guest that powered off mid-migration ends that migration too.
            ctx.publish(Stopped, unfinished(ctx.latest().migration().migrationIn()), unfinished(out));
        }
        ctx.publish(Destroyed);
    }

    /** Error for a migration still under way, else null (keep it). */
    private static InstanceMigrationStatus unfinished(final InstanceMigrationStatus migration)
    {
        return migration == null || migration.state().isTerminal() ? null
            : new InstanceMigrationStatus(migration.id(), PropolisMigrationState.Error);
    }

    private void closeQuietly()
    {
        final QmpClient client;
        ctx.lock();
        try
        {
            client = qmp;
        }
        finally
        {
            ctx.unlock();
        }
        if (client != null)
        {
            client.close();
        }
        if (console != null)
        {
            console.close();
        }
    }

    private void locked(final Runnable task)
    {
        ctx.lock();
        try
        {
            task.run();
        }
        catch (final RuntimeException e)
        {
            ctx.log("internal error: " + e);
        }
        finally
        {
            ctx.unlock();
        }
    }

    private static void deleteQuietly(final Path dir)
    {
        try
        {
            if (Files.isDirectory(dir))
            {
                try (var entries = Files.list(dir))
                {
                    for (final Path entry : (Iterable<Path>) entries::iterator)
                    {
                        Files.deleteIfExists(entry);
                    }
                }
            }
            Files.deleteIfExists(dir);
        }
        catch (final IOException e)
        {
            // A leftover socket file in the run dir harms nothing.
        }
    }
}
