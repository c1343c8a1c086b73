package sledagent.hypervisor.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AcceleratorTest
{
    private static final String VMX_CPUINFO = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep vmx smx est
        vmx flags\t: vnmi preemption_timer
        """;
    private static final String SVM_CPUINFO = "processor\t: 0\nflags\t\t: fpu vme svm lm\n";
    // vmx and svm outside the flags line (a model name) must not count.
    private static final String NO_VIRT_CPUINFO = """
        processor\t: 0
        model name\t: Virtual CPU vmx svm
        flags\t\t: fpu vme de pse tsc msr pae hypervisor
        vmx flags\t: vnmi
        """;

    @TempDir
    Path dir;

    private Path file(final String name, final String text) throws IOException
    {
        final Path path = dir.resolve(name);
        Files.writeString(path, text);
        return path;
    }

    @Test
    void autoPicksKvmOnlyWhenTheDeviceOpensAndTheCpuHasVmxOrSvm() throws IOException
    {
        final Path kvm = file("kvm", "");
        assertThat(Accelerator.choose(Accelerator.Mode.AUTO, kvm, file("vmx", VMX_CPUINFO)).accel()).isEqualTo("kvm");
        final Accelerator.Choice svm = Accelerator.choose(Accelerator.Mode.AUTO, kvm, file("svm", SVM_CPUINFO));
        assertThat(svm.isKvm()).isTrue();
        assertThat(svm.reason()).startsWith("auto: kvm");
    }

    @Test
    void autoFallsBackToTcgOnAPvmHost() throws IOException
    {
        // This machine kind: /dev/kvm opens, but the CPU shows neither flag.
        final Accelerator.Choice choice =
            Accelerator.choose(Accelerator.Mode.AUTO, file("kvm", ""), file("cpu", NO_VIRT_CPUINFO));
        assertThat(choice.accel()).isEqualTo("tcg");
        assertThat(choice.reason()).contains("opens but").contains("shows no vmx/svm flag");
    }

    @Test
    void autoFallsBackToTcgWhenTheDeviceDoesNotOpen() throws IOException
    {
        final Path cpu = file("cpu", VMX_CPUINFO);
        final Accelerator.Choice missing = Accelerator.choose(Accelerator.Mode.AUTO, dir.resolve("nokvm"), cpu);
        assertThat(missing.accel()).isEqualTo("tcg");
        assertThat(missing.reason()).contains("nokvm does not open read-write").contains("NoSuchFile");
        // A directory does not open read-write either (root ignores file modes, so a mode cannot be the test).
        final Accelerator.Choice directory = Accelerator.choose(Accelerator.Mode.AUTO, dir, cpu);
        assertThat(directory.accel()).isEqualTo("tcg");
    }

    @Test
    void autoFallsBackToTcgWhenCpuinfoIsUnreadable() throws IOException
    {
        final Accelerator.Choice choice =
            Accelerator.choose(Accelerator.Mode.AUTO, file("kvm", ""), dir.resolve("no-cpuinfo"));
        assertThat(choice.accel()).isEqualTo("tcg");
        assertThat(choice.reason()).contains("unreadable");
    }

    @Test
    void explicitModesAreObeyedWithAWarningInTheReason() throws IOException
    {
        final Path cpu = file("cpu", NO_VIRT_CPUINFO);
        assertThat(Accelerator.choose(Accelerator.Mode.TCG, file("kvm", ""), file("vmx", VMX_CPUINFO)))
            .isEqualTo(new Accelerator.Choice("tcg", "tcg: requested"));
        final Accelerator.Choice kvm = Accelerator.choose(Accelerator.Mode.KVM, dir.resolve("nokvm"), cpu);
        assertThat(kvm.accel()).isEqualTo("kvm");
        assertThat(kvm.reason()).startsWith("kvm: requested, although").contains("does not open");
    }

    @Test
    void modeParses()
    {
        assertThat(Accelerator.Mode.parse("Auto")).isEqualTo(Accelerator.Mode.AUTO);
        assertThat(Accelerator.Mode.parse("kvm")).isEqualTo(Accelerator.Mode.KVM);
        assertThat(Accelerator.Mode.parse("TCG")).isEqualTo(Accelerator.Mode.TCG);
        assertThatThrownBy(() -> Accelerator.Mode.parse("hvf")).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("auto, kvm or tcg");
    }
}
