package sledagent.perf;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import sledagent.agent.demo.TinyGuest;

/**
 * libvirt as the peer we are compared with: its own {@code virtlogd} and {@code libvirtd} (started here, in the
 * foreground, as children of this JVM or of a {@link Subreaper}), one transient-free domain booting the same tiny
 * guest as ours (same kernel, initramfs, command line, memory, one vCPU, TCG), and the three moments we time:
 * {@code virsh start} -> the guest's marker in its serial log, {@code virsh destroy} -> returned with the domain
 * {@code shut off}, SIGKILL of its QEMU -> libvirt's {@code lifecycle} event.
 *
 * <p>{@link #close()} destroys and undefines the domain and stops both daemons (SIGTERM, then SIGKILL after a bounded
 * wait); it refuses to start where a libvirtd already answers, so it never stops or changes anyone else's.
 */
final class LibvirtPeer implements AutoCloseable
{
    private static final String URI = "qemu:///system";
    private static final Duration COMMAND_BOUND = Duration.ofSeconds(60);
    private static final Duration DAEMON_READY_BOUND = Duration.ofSeconds(20);
    private static final Duration DAEMON_STOP_BOUND = Duration.ofSeconds(10);
    private static final int EVENT_QUEUE = 64;

    /** A daemon this peer started; a wrapped one runs under a {@link Subreaper}, which ends when its stdin closes. */
    private record Daemon(Process process, boolean wrapped)
    {
    }

    /** A line {@code virsh event} printed, and when this JVM read it. */
    private record Event(Instant at, String line)
    {
    }

    private final Path work;
    private final String domain;
    private final Path serialLog;
    private final List<Daemon> daemons = new ArrayList<>();
    private final BlockingQueue<Event> events = new ArrayBlockingQueue<>(EVENT_QUEUE);
    private Process eventWatch;
    private boolean defined;

    private LibvirtPeer(final Path work)
    {
        this.work = work;
        this.domain = "sledperf-" + UUID.randomUUID().toString().substring(0, 8);
        this.serialLog = work.resolve("serial.log");
    }

    /** What is missing to run the peer here, or null: the daemons, virsh, and root. */
    static String missing()
    {
        for (final String tool : List.of("virsh", "libvirtd", "virtlogd"))
        {
            if (which(tool) == null)
            {
                return tool + " (apt-get install --no-install-recommends libvirt-daemon-system libvirt-clients)";
            }
        }
        return "root".equals(System.getProperty("user.name")) ? null : "root (libvirt's system instance)";
    }

    /**
     * Starts both daemons and defines the domain.
     *
     * @param work       an empty directory of this run's (kernel, initramfs and serial log are put there, readable by
     *                   libvirt's unprivileged QEMU user)
     * @param subreaper  whether libvirtd runs under a {@link Subreaper} (QEMU reaped at once) or as a plain child (a
     *                   QEMU it kills is reaped by PID 1)
     */
    static LibvirtPeer start(final Path work, final TinyGuest guest, final int memoryMib, final boolean subreaper)
        throws IOException, InterruptedException
    {
        final LibvirtPeer peer = new LibvirtPeer(work);
        try
        {
            peer.startDaemons(subreaper);
            peer.define(guest, memoryMib);
            return peer;
        }
        catch (final IOException | InterruptedException | RuntimeException ex)
        {
            peer.close();
            throw ex;
        }
    }

    /** {@code virsh start}; returns when the guest printed its marker: the time of {@code virsh start} -> marker. */
    Duration startToMarker() throws IOException, InterruptedException
    {
        Files.deleteIfExists(serialLog);
        final long startNs = System.nanoTime();
        virsh("start", domain);
        final long deadlineNs = startNs + COMMAND_BOUND.toNanos();
        while (!hasMarker())
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("libvirt's guest printed no " + TinyGuest.MARKER + " within "
                    + COMMAND_BOUND + "; see " + serialLog);
            }
            Thread.sleep(10);
        }
        return Duration.ofNanos(System.nanoTime() - startNs);
    }

    /** {@code virsh destroy} of the running domain: the time until it returned; checks it is then shut off. */
    Duration destroy() throws IOException, InterruptedException
    {
        final long startNs = System.nanoTime();
        virsh("destroy", domain);
        final Duration took = Duration.ofNanos(System.nanoTime() - startNs);
        final String state = virsh("domstate", domain).strip();
        if (!state.startsWith("shut off"))
        {
            throw new IllegalStateException("after virsh destroy the domain is " + state);
        }
        return took;
    }

    /** SIGKILL of the running domain's QEMU: the time until libvirt's lifecycle event says it stopped. */
    Duration crash() throws IOException, InterruptedException
    {
        final long pid = Long.parseLong(Files.readString(Path.of("/run/libvirt/qemu", domain + ".pid")).strip());
        events.clear();
        final Instant killAt = Instant.now();
        final Process kill = new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start();
        if (!kill.waitFor(5, TimeUnit.SECONDS) || kill.exitValue() != 0)
        {
            throw new IllegalStateException("kill -KILL " + pid + " failed");
        }
        final long deadlineNs = System.nanoTime() + COMMAND_BOUND.toNanos();
        while (true)
        {
            final Event event = events.poll(Math.max(1, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (event == null)
            {
                throw new IllegalStateException("no lifecycle event from libvirt within " + COMMAND_BOUND
                    + " of killing its QEMU " + pid);
            }
            if (event.line().contains("Stopped"))
            {
                return Duration.between(killAt, event.at());
            }
        }
    }

    /** The QEMU version and libvirt's, for the report. */
    String describe() throws IOException, InterruptedException
    {
        return virsh("version").lines().filter(line -> line.contains("library") || line.contains("hypervisor"))
            .map(String::strip).reduce((a, b) -> a + "; " + b).orElse("?");
    }

    private boolean hasMarker() throws IOException
    {
        if (!Files.exists(serialLog))
        {
            return false;
        }
        return Files.readString(serialLog, StandardCharsets.ISO_8859_1).contains(TinyGuest.MARKER);
    }

    private void startDaemons(final boolean subreaper) throws IOException, InterruptedException
    {
        if (run(List.of("virsh", "-c", URI, "version"), Duration.ofSeconds(10)).exit() == 0)
        {
            throw new IllegalStateException("a libvirtd already answers on " + URI
                + ": stop it first (this tool starts and stops its own)");
        }
        daemons.add(new Daemon(daemon(List.of(which("virtlogd")), "virtlogd.log"), false));
        final List<String> libvirtd = new ArrayList<>();
        if (subreaper)
        {
            libvirtd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx32m",
                "-cp", System.getProperty("java.class.path"), Subreaper.class.getName()));
        }
        libvirtd.add(which("libvirtd"));
        daemons.add(new Daemon(daemon(libvirtd, "libvirtd.log"), subreaper));
        final long deadlineNs = System.nanoTime() + DAEMON_READY_BOUND.toNanos();
        while (run(List.of("virsh", "-c", URI, "version"), Duration.ofSeconds(10)).exit() != 0)
        {
            if (System.nanoTime() - deadlineNs > 0 || !daemons.get(daemons.size() - 1).process().isAlive())
            {
                throw new IllegalStateException("libvirtd did not answer within " + DAEMON_READY_BOUND + "; see "
                    + work.resolve("libvirtd.log"));
            }
            Thread.sleep(50);
        }
    }

    private Process daemon(final List<String> command, final String logName) throws IOException
    {
        return new ProcessBuilder(command).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve(logName).toFile()))
            .redirectInput(ProcessBuilder.Redirect.PIPE).start();
    }

    private void define(final TinyGuest guest, final int memoryMib) throws IOException, InterruptedException
    {
        // libvirt's QEMU runs as libvirt-qemu: it must be able to read the boot files and write the serial log.
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxrwxrwx"));
        final Path kernel = Files.copy(guest.vmlinux(), work.resolve("vmlinux"));
        final Path initrd = Files.copy(guest.initrd(), work.resolve("initramfs.cpio.gz"));
        for (final Path file : List.of(kernel, initrd))
        {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        }
        final String xml = """
            <domain type='qemu'>
              <name>%s</name>
              <memory unit='MiB'>%d</memory>
              <vcpu>1</vcpu>
              <os>
                <type arch='x86_64' machine='pc'>hvm</type>
                <kernel>%s</kernel>
                <initrd>%s</initrd>
                <cmdline>%s</cmdline>
              </os>
              <on_crash>destroy</on_crash>
              <devices>
                <serial type='file'><source path='%s'/><target port='0'/></serial>
                <memballoon model='none'/>
              </devices>
            </domain>
            """.formatted(domain, memoryMib, kernel, initrd, guest.append(), serialLog);
        final Path file = work.resolve("domain.xml");
        Files.writeString(file, xml);
        virsh("define", file.toString());
        defined = true;
        eventWatch = new ProcessBuilder("virsh", "-c", URI, "event", "--domain", domain, "--event", "lifecycle",
            "--loop").redirectErrorStream(true).start();
        final Thread reader = new Thread(() -> readEvents(eventWatch), "virsh-event-reader");
        reader.setDaemon(true);
        reader.start();
    }

    private void readEvents(final Process watch)
    {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(watch.getInputStream(),
            StandardCharsets.UTF_8)))
        {
            String line;
            while ((line = lines.readLine()) != null)
            {
                // Bounded: a full queue drops the oldest (only the newest matter to a waiting crash()).
                final Event event = new Event(Instant.now(), line);
                while (!events.offer(event))
                {
                    events.poll();
                }
            }
        }
        catch (final IOException ex)
        {
            // The watch was stopped.
        }
    }

    private String virsh(final String... args) throws IOException, InterruptedException
    {
        final List<String> command = new ArrayList<>(List.of("virsh", "-c", URI));
        command.addAll(List.of(args));
        final Result result = run(command, COMMAND_BOUND);
        if (result.exit() != 0)
        {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + result.exit() + "): "
                + result.output());
        }
        return result.output();
    }

    /** A finished command: exit status and its output (stdout and stderr). */
    private record Result(int exit, String output)
    {
    }

    private static Result run(final List<String> command, final Duration bound)
        throws IOException, InterruptedException
    {
        final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        final byte[] output = process.getInputStream().readAllBytes();
        if (!process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS))
        {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not end within " + bound);
        }
        return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
    }

    private static String which(final String tool)
    {
        for (final String dir : List.of("/usr/sbin", "/usr/bin", "/sbin", "/bin"))
        {
            final Path path = Path.of(dir, tool);
            if (Files.isExecutable(path))
            {
                return path.toString();
            }
        }
        return null;
    }

    @Override
    public void close() throws InterruptedException
    {
        if (defined)
        {
            try
            {
                if (!virsh("domstate", domain).strip().startsWith("shut off"))
                {
                    virsh("destroy", domain);
                }
                virsh("undefine", domain);
            }
            catch (final IOException | RuntimeException ex)
            {
                System.err.println("libvirt peer: cannot remove domain " + domain + ": " + ex.getMessage());
            }
            defined = false;
        }
        if (eventWatch != null)
        {
            eventWatch.destroyForcibly();
            eventWatch.waitFor(DAEMON_STOP_BOUND.toMillis(), TimeUnit.MILLISECONDS);
        }
        // libvirtd before virtlogd: the reverse of their start.
        for (int i = daemons.size() - 1; i >= 0; i--)
        {
            final Process daemon = daemons.get(i).process();
            if (daemons.get(i).wrapped())
            {
                try
                {
                    // A Subreaper ends when its stdin closes, once it has stopped libvirtd and reaped.
                    daemon.getOutputStream().close();
                }
                catch (final IOException ex)
                {
                    daemon.destroy();
                }
            }
            else
            {
                daemon.destroy();
            }
            if (!daemon.waitFor(DAEMON_STOP_BOUND.toMillis(), TimeUnit.MILLISECONDS))
            {
                daemon.destroyForcibly();
                daemon.waitFor(DAEMON_STOP_BOUND.toMillis(), TimeUnit.MILLISECONDS);
            }
        }
        daemons.clear();
    }
}
