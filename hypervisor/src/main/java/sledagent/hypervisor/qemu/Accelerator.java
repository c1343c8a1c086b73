package sledagent.hypervisor.qemu;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Objects;

/**
 * Which QEMU accelerator to use: {@code --accel auto|kvm|tcg}. {@code auto} picks KVM only where {@code /dev/kvm}
 * opens read-write <em>and</em> the CPU flags in {@code /proc/cpuinfo} show {@code vmx} or {@code svm}; TCG
 * otherwise. Both checks matter: a PVM host (this project's CI machines) has a {@code /dev/kvm} that opens but
 * runs only PVM-built guest kernels, and its CPU flags show neither. {@link #choose} never throws: an explicit
 * {@code kvm} is obeyed, with a warning in the reason when the checks fail.
 */
public final class Accelerator
{
    /** The default {@code /dev/kvm}. */
    public static final Path DEV_KVM = Path.of("/dev/kvm");
    /** The default {@code /proc/cpuinfo}. */
    public static final Path PROC_CPUINFO = Path.of("/proc/cpuinfo");

    /** What the operator asked for. */
    public enum Mode
    {
        AUTO, KVM, TCG;

        /** Parses {@code auto}, {@code kvm} or {@code tcg} (any case); anything else is an IllegalArgumentException. */
        public static Mode parse(final String text)
        {
            return switch (text.toLowerCase(Locale.ROOT))
            {
                case "auto" -> AUTO;
                case "kvm" -> KVM;
                case "tcg" -> TCG;
                default -> throw new IllegalArgumentException("accelerator must be auto, kvm or tcg, not '" + text + "'");
            };
        }
    }

    /**
     * The decision.
     *
     * @param accel  {@code "kvm"} or {@code "tcg"}: the value of QEMU's {@code -accel}
     * @param reason one line for the log, e.g. {@code "auto: /dev/kvm opens but /proc/cpuinfo shows no vmx/svm"}
     */
    public record Choice(String accel, String reason)
    {
        public Choice
        {
            Objects.requireNonNull(accel, "accel");
            Objects.requireNonNull(reason, "reason");
        }

        /** True for KVM. */
        public boolean isKvm()
        {
            return "kvm".equals(accel);
        }
    }

    private Accelerator()
    {
    }

    /** {@link #choose(Mode, Path, Path)} with the host's {@code /dev/kvm} and {@code /proc/cpuinfo}. */
    public static Choice choose(final Mode mode)
    {
        return choose(mode, DEV_KVM, PROC_CPUINFO);
    }

    /**
     * Decides, given where to look (tests pass their own files).
     *
     * @param mode    what was asked for
     * @param devKvm  the KVM device; it counts when it opens read-write
     * @param cpuinfo a {@code /proc/cpuinfo}; it counts when a {@code flags} line holds {@code vmx} or {@code svm}
     */
    public static Choice choose(final Mode mode, final Path devKvm, final Path cpuinfo)
    {
        Objects.requireNonNull(mode, "mode");
        if (mode == Mode.TCG)
        {
            return new Choice("tcg", "tcg: requested");
        }
        final String kvmProblem = kvmProblem(devKvm);
        final String cpuProblem = cpuProblem(cpuinfo);
        if (mode == Mode.KVM)
        {
            final String warning = kvmProblem != null ? kvmProblem : cpuProblem;
            return new Choice("kvm", warning == null ? "kvm: requested" : "kvm: requested, although " + warning);
        }
        if (kvmProblem != null)
        {
            return new Choice("tcg", "auto: tcg, because " + kvmProblem);
        }
        if (cpuProblem != null)
        {
            return new Choice("tcg", "auto: tcg, because " + devKvm + " opens but " + cpuProblem);
        }
        return new Choice("kvm", "auto: kvm (" + devKvm + " opens read-write, the CPU has hardware virtualization)");
    }

    /** Null when {@code devKvm} opens read-write, else why not. */
    private static String kvmProblem(final Path devKvm)
    {
        try (FileChannel ignored = FileChannel.open(devKvm, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            return null;
        }
        catch (final IOException | UnsupportedOperationException | SecurityException e)
        {
            return devKvm + " does not open read-write (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
        }
    }

    /** Null when a {@code flags} line of {@code cpuinfo} has {@code vmx} or {@code svm}, else why not. */
    private static String cpuProblem(final Path cpuinfo)
    {
        final String text;
        try
        {
            text = Files.readString(cpuinfo, StandardCharsets.ISO_8859_1);
        }
        catch (final IOException e)
        {
            return cpuinfo + " is unreadable (" + e.getMessage() + ")";
        }
        for (final String line : text.split("\n"))
        {
            final int colon = line.indexOf(':');
            if (colon < 0 || !line.substring(0, colon).trim().equals("flags"))
            {
                continue;
            }
            for (final String flag : line.substring(colon + 1).trim().split("\\s+"))
            {
                if (flag.equals("vmx") || flag.equals("svm"))
                {
                    return null;
                }
            }
        }
        return cpuinfo + " shows no vmx/svm flag";
    }
}
