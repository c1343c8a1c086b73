package sledagent.hypervisor.qemu;

import static sledagent.api.propolis.PropolisInstanceState.Destroyed;
import static sledagent.api.propolis.PropolisInstanceState.Failed;
import static sledagent.api.propolis.PropolisInstanceState.Rebooting;
import static sledagent.api.propolis.PropolisInstanceState.Running;
import static sledagent.api.propolis.PropolisInstanceState.Starting;
import static sledagent.api.propolis.PropolisInstanceState.Stopped;
import static sledagent.api.propolis.PropolisInstanceState.Stopping;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import sledagent.api.propolis.InstanceEnsureRequest;
import sledagent.api.propolis.InstanceInitializationMethod;
import sledagent.api.propolis.PropolisInstanceState;
import sledagent.hypervisor.server.Machine;
import sledagent.hypervisor.server.MachineContext;
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
 *       QEMU has exited and its sockets are gone.</li>
 *   <li>Reboot: Rebooting, {@code system_reset}, Running when QEMU has answered. A guest reset ({@code RESET} with
 *       {@code guest: true}) publishes Rebooting and Running at once; QEMU's burst of RESETs within
 *       {@link #RESET_FOLD_MS} of each other counts once.</li>
 *   <li>A guest poweroff ({@code SHUTDOWN}, {@code guest: true}): Stopping, then as a Stop.</li>
 *   <li>QEMU gone without a {@code SHUTDOWN} (killed, crashed), a failed {@code cont}, {@code GUEST_PANICKED} or
 *       an unasked pause in {@code internal-error}: Failed (QEMU killed if still there).</li>
 * </ul>
 * QEMU's exit is seen through {@link Process#onExit()}, never by polling. Every QMP call is bounded.
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
    private final Process qemu;
    private final SerialConsole console;
    private final SerialRing ring;
    private final QemuSerialPort serialPort;
    private final Path runDir;
    private final CompletableFuture<Void> eof = new CompletableFuture<>();
    // Guarded by the instance lock.
    private QmpClient qmp;
    private boolean startAsked;
    private boolean haltAsked;
    private boolean shutdownSeen;
    private boolean resumed;
    private long lastResetNs;

    private QemuMachine(final MachineContext ctx, final ScheduledExecutorService timer, final Process qemu,
        final SerialConsole console, final SerialRing ring, final QemuSerialPort serialPort, final Path runDir)
    {
        this.ctx = ctx;
        this.timer = timer;
        this.qemu = qemu;
        this.console = console;
        this.ring = ring;
        this.serialPort = serialPort;
        this.runDir = runDir;
    }

    /**
     * The factory's work at the first ensure: the spec checked and turned into QEMU's argv (a component QEMU cannot
     * honour is a 400 naming it), QEMU spawned paused, the serial reader and the QMP handshake started.
     *
     * @param request the ensure request
     * @param ctx     the instance
     * @param config  the server's command line
     * @param timer   for the kill deadline
     * @return the machine
     * @throws PropolisRefusal 400 for a spec it cannot run or a migration target; 500 if QEMU cannot be spawned
     */
    static QemuMachine create(final InstanceEnsureRequest request, final MachineContext ctx,
        final QemuOptions config, final ScheduledExecutorService timer) throws PropolisRefusal
    {
        if (!(request.init() instanceof InstanceInitializationMethod.Spec fromSpec))
        {
            throw PropolisRefusal.badRequest("propolis-qemu cannot be a migration target (init method "
                + "MigrationTarget is not supported)");
        }
        final Path runDir = config.runDir().resolve(request.properties().id().toString().substring(0, 8));
        final QemuCommandLine commandLine;
        try
        {
            Files.createDirectories(runDir);
            commandLine = QemuCommandLine.build(fromSpec.value().spec(), new QemuCommandLine.Options(
                config.qemuBinary(), request.properties().name(), runDir, config.boot(), config.accel(), null));
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
        final SerialRing ring = new SerialRing();
        final Path com1 = commandLine.serialSockets().get("com1");
        final QemuSerialPort serialPort = new QemuSerialPort(ring);
        final SerialConsole console = com1 == null ? null
            : SerialConsole.start(com1, request.properties().name() + "-com1", ring, serialPort::outputArrived,
                HANDSHAKE_MS);
        serialPort.attach(console);
        final QemuMachine machine = new QemuMachine(ctx, timer, process, console, ring, serialPort, runDir);
        final Thread handshake = new Thread(machine::handshake, "qemu-handshake");
        handshake.setDaemon(true);
        handshake.start();
        process.onExit().thenRun(machine::exited);
        return machine;
    }

    /** QEMU's process (for tests: its pid). */
    ProcessHandle process()
    {
        return qemu.toHandle();
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
        // A VM that never ran has nothing to stop: straight to Stopped, as Propolis does.
        ctx.publish(resumed ? Stopping : Stopped);
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
            eof.complete(null);
            qemu.destroyForcibly();
            return;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            eof.complete(null);
            qemu.destroyForcibly();
            return;
        }
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
            closeQuietly();
            deleteQuietly(runDir);
            locked(() ->
            {
                final PropolisInstanceState state = ctx.latest().state();
                if (state == Failed || state == Destroyed)
                {
                    return;
                }
                if (haltAsked || shutdownSeen)
                {
                    if (state != Stopped)
                    {
                        ctx.publish(Stopped);
                    }
                    ctx.publish(Destroyed);
                }
                else
                {
                    ctx.log("QEMU exited without a shutdown (status " + qemu.exitValue() + ")");
                    ctx.publish(Failed);
                }
            });
        });
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
