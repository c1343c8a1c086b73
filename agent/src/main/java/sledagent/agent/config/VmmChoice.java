package sledagent.agent.config;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Supplier;
import sledagent.hypervisor.qemu.BootSource;
import sledagent.hypervisor.qemu.PropolisQemuLauncher;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/**
 * Which VMM the agent runs in each zone: {@code sim} (propolis-sim, for tests and trying the agent without QEMU),
 * {@code qemu} (propolis-qemu over the configured QEMU binary, accelerator and boot source) or {@code command} (an
 * external Propolis server, e.g. the real {@code propolis-server} on illumos, from an argv template in which
 * {@value #LISTEN} is replaced by the VMM's listen address). Values are checked on construction; whether the
 * files exist is checked only by {@link #checkRunnable()}, which {@code serve} calls (so {@code config check}
 * judges a config on a machine without QEMU).
 *
 * @param kind     which VMM
 * @param qemu     the QEMU executable ({@code qemu}); a bare name is looked up on the PATH
 * @param accel    {@code auto}, {@code kvm} or {@code tcg} ({@code qemu})
 * @param boot     the guest's boot source ({@code qemu}), or null when none was configured
 * @param template the argv template ({@code command}), empty otherwise
 */
public record VmmChoice(Kind kind, Path qemu, String accel, BootSource boot, List<String> template)
{
    /** The placeholder of the listen address in a {@code command} template. */
    public static final String LISTEN = "{listen}";
    /** The default QEMU executable: found on the PATH. */
    public static final Path DEFAULT_QEMU = Path.of("qemu-system-x86_64");
    /** propolis-sim: the programmatic default (tests and embedded agents). */
    public static final VmmChoice SIM = new VmmChoice(Kind.SIM, null, null, null, List.of());

    /** The VMM kinds, by their config value. */
    public enum Kind
    {
        SIM, QEMU, COMMAND;

        /** The config value: {@code sim}, {@code qemu} or {@code command}. */
        public String value()
        {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Parses a config value; IllegalArgumentException naming the choices otherwise. */
        public static Kind parse(final String text)
        {
            for (final Kind kind : values())
            {
                if (kind.value().equals(text.strip().toLowerCase(Locale.ROOT)))
                {
                    return kind;
                }
            }
            throw new IllegalArgumentException("expected qemu, sim or command, got '" + text + "'");
        }
    }

    public VmmChoice
    {
        Objects.requireNonNull(kind, "kind");
        template = List.copyOf(template == null ? List.of() : template);
        if (kind == Kind.QEMU)
        {
            qemu = qemu == null ? DEFAULT_QEMU : qemu;
            accel = accel == null ? "auto" : accel.toLowerCase(Locale.ROOT);
            if (!List.of("auto", "kvm", "tcg").contains(accel))
            {
                throw new IllegalArgumentException("accel: expected auto, kvm or tcg, got '" + accel + "'");
            }
        }
        if (kind == Kind.COMMAND)
        {
            if (template.isEmpty() || template.get(0).isBlank())
            {
                throw new IllegalArgumentException("vmm_command: the command template is empty");
            }
            if (template.stream().noneMatch(arg -> arg.contains(LISTEN)))
            {
                throw new IllegalArgumentException("vmm_command: the template must hold " + LISTEN
                    + " (the listen address the agent gives the VMM), got " + template);
            }
        }
    }

    /** propolis-qemu with {@code qemu} (null: on the PATH), {@code accel} and {@code boot} (null: none yet). */
    public static VmmChoice qemu(final Path qemu, final String accel, final BootSource boot)
    {
        return new VmmChoice(Kind.QEMU, qemu, accel, boot, List.of());
    }

    /** An external Propolis server from an argv template holding {@value #LISTEN}. */
    public static VmmChoice command(final List<String> template)
    {
        return new VmmChoice(Kind.COMMAND, null, null, null, template);
    }

    /**
     * The argv of a VMM serving at a listen address.
     *
     * @param runDir where propolis-qemu keeps its VMs' sockets (a directory of the agent's, one sub-directory per VM)
     */
    public Function<String, List<String>> command(final Path runDir)
    {
        return command(runDir, () -> null);
    }

    /**
     * The argv of a VMM serving at a listen address.
     *
     * @param runDir       where propolis-qemu keeps its VMs' sockets
     * @param classArchive asked at each launch: the class-data archive for propolis-qemu's JVM, or null for none
     */
    public Function<String, List<String>> command(final Path runDir, final Supplier<Path> classArchive)
    {
        return switch (kind)
        {
            case SIM -> PropolisSimLauncher::command;
            case QEMU -> listen -> PropolisQemuLauncher.command(listen, qemu, accel, boot, runDir, classArchive.get());
            case COMMAND -> listen ->
            {
                final List<String> argv = new ArrayList<>(template.size());
                for (final String arg : template)
                {
                    argv.add(arg.replace(LISTEN, listen));
                }
                return List.copyOf(argv);
            };
        };
    }

    /**
     * Refuses a choice that cannot run here: {@code qemu} without a QEMU executable or a boot source, or with a
     * boot file that is not readable; {@code command} whose program is not executable. Never falls back.
     *
     * @throws IllegalArgumentException saying what is missing and how to give it
     */
    public void checkRunnable()
    {
        switch (kind)
        {
            case SIM ->
            {
                // propolis-sim ships with the agent.
            }
            case QEMU ->
            {
                if (executable(qemu) == null)
                {
                    throw new IllegalArgumentException("vmm = qemu, but QEMU '" + qemu + "' is not an executable file"
                        + (qemu.getNameCount() == 1 && qemu.getParent() == null ? " on the PATH" : "")
                        + " (install qemu-system-x86, or set qemu / --qemu PATH; --vmm sim runs the simulator)");
                }
                if (boot == null)
                {
                    throw new IllegalArgumentException("vmm = qemu, but no boot source is configured: set bootrom"
                        + " (--bootrom FILE, e.g. /usr/share/ovmf/OVMF.fd) or guest_kernel (--guest-kernel FILE,"
                        + " with guest_initrd and guest_append)");
                }
                if (boot instanceof BootSource.Kernel kernel)
                {
                    readable(kernel.kernel(), "guest_kernel");
                    if (kernel.initrd() != null)
                    {
                        readable(kernel.initrd(), "guest_initrd");
                    }
                }
                else if (boot instanceof BootSource.Bootrom bootrom)
                {
                    readable(bootrom.firmware(), "bootrom");
                }
            }
            case COMMAND ->
            {
                final Path program = Path.of(template.get(0));
                if (executable(program) == null)
                {
                    throw new IllegalArgumentException("vmm = command, but '" + program
                        + "' is not an executable file");
                }
            }
        }
    }

    /** One line for the log, {@code GET /health} and {@code config check}. */
    public String describe()
    {
        return switch (kind)
        {
            case SIM -> "sim (propolis-sim, simulated VMs)";
            case QEMU -> "qemu (propolis-qemu; qemu " + qemu + ", accel " + accel + ", boot "
                + (boot == null ? "(none)" : bootText(boot)) + ")";
            case COMMAND -> "command (" + String.join(" ", template) + ")";
        };
    }

    private static String bootText(final BootSource boot)
    {
        if (boot instanceof BootSource.Kernel kernel)
        {
            return "kernel " + kernel.kernel() + (kernel.initrd() == null ? "" : " initrd " + kernel.initrd())
                + (kernel.append() == null ? "" : " append '" + kernel.append() + "'");
        }
        return "bootrom " + ((BootSource.Bootrom) boot).firmware();
    }

    private static void readable(final Path file, final String key)
    {
        if (!Files.isRegularFile(file) || !Files.isReadable(file))
        {
            throw new IllegalArgumentException("vmm = qemu, but " + key + " '" + file + "' is not a readable file");
        }
    }

    /** The executable {@code program} names (a bare name: the first on the PATH), or null. */
    public static Path which(final Path program)
    {
        return executable(program);
    }

    private static Path executable(final Path program)
    {
        if (program.getParent() != null || program.isAbsolute())
        {
            return Files.isRegularFile(program) && Files.isExecutable(program) ? program : null;
        }
        final String path = System.getenv("PATH");
        for (final String dir : (path == null ? "/usr/local/bin:/usr/bin:/bin" : path).split(File.pathSeparator))
        {
            if (dir.isEmpty())
            {
                continue;
            }
            final Path candidate = Path.of(dir).resolve(program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
