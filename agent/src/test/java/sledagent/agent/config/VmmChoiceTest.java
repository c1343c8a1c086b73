package sledagent.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.hypervisor.qemu.BootSource;
import sledagent.hypervisor.qemu.PropolisQemuLauncher;
import sledagent.hypervisor.sim.PropolisSimLauncher;

/** The VMM choice: what each kind launches, what serve refuses, how it reads from the settings. */
class VmmChoiceTest
{
    @TempDir
    Path dir;

    @Test
    void shouldLaunchTheChosenVmm() throws Exception
    {
        assertThat(VmmChoice.SIM.command(dir).apply("127.0.0.1:7"))
            .isEqualTo(PropolisSimLauncher.command("127.0.0.1:7"));

        final Path kernel = file("vmlinux");
        final VmmChoice qemu = VmmChoice.qemu(Path.of("/opt/q/qemu"), "tcg",
            new BootSource.Kernel(kernel, null, "console=ttyS0"));
        final List<String> argv = qemu.command(dir).apply("127.0.0.1:8");
        assertThat(argv).contains(PropolisQemuLauncher.MAIN_CLASS);
        assertThat(String.join(" ", argv)).contains("--listen 127.0.0.1:8").contains("--qemu /opt/q/qemu")
            .contains("--accel tcg").contains("--kernel " + kernel).contains("--append console=ttyS0")
            .contains("--run-dir " + dir);

        final VmmChoice command = VmmChoice.command(List.of("/opt/propolis-server", "run", "cfg.toml", "{listen}"));
        assertThat(command.command(dir).apply("[fd00::1]:12400"))
            .containsExactly("/opt/propolis-server", "run", "cfg.toml", "[fd00::1]:12400");
        assertThat(VmmChoice.command(List.of("p", "--addr={listen}")).command(dir).apply("h:1"))
            .containsExactly("p", "--addr=h:1");
    }

    @Test
    void shouldRefuseToRunQemuWithoutQemuOrABootSource() throws Exception
    {
        final Path qemu = executable("qemu");
        final Path kernel = file("vmlinux");
        VmmChoice.qemu(qemu, null, new BootSource.Kernel(kernel, null, null)).checkRunnable();
        VmmChoice.qemu(qemu, null, new BootSource.Bootrom(kernel)).checkRunnable();
        VmmChoice.SIM.checkRunnable();

        assertThatThrownBy(() -> VmmChoice.qemu(dir.resolve("none"), null, new BootSource.Bootrom(kernel))
            .checkRunnable()).hasMessageContaining("QEMU").hasMessageContaining("not an executable file");
        assertThatThrownBy(() -> VmmChoice.qemu(Path.of("no-such-qemu-here"), null, new BootSource.Bootrom(kernel))
            .checkRunnable()).hasMessageContaining("on the PATH");
        assertThatThrownBy(() -> VmmChoice.qemu(qemu, null, null).checkRunnable())
            .hasMessageContaining("no boot source").hasMessageContaining("bootrom");
        assertThatThrownBy(() -> VmmChoice.qemu(qemu, null, new BootSource.Bootrom(dir.resolve("OVMF.fd")))
            .checkRunnable()).hasMessageContaining("bootrom").hasMessageContaining("OVMF.fd");
        assertThatThrownBy(() -> VmmChoice.qemu(qemu, null,
            new BootSource.Kernel(kernel, dir.resolve("initrd"), null)).checkRunnable())
            .hasMessageContaining("guest_initrd");
        assertThatThrownBy(() -> VmmChoice.command(List.of(dir.resolve("propolis-server").toString(), "{listen}"))
            .checkRunnable()).hasMessageContaining("propolis-server");
    }

    @Test
    void shouldRefuseBadValues()
    {
        assertThatThrownBy(() -> VmmChoice.Kind.parse("kvm")).hasMessageContaining("qemu, sim or command");
        assertThatThrownBy(() -> VmmChoice.qemu(null, "hvf", null)).hasMessageContaining("auto, kvm or tcg");
        assertThatThrownBy(() -> VmmChoice.command(List.of("propolis-server", "run")))
            .hasMessageContaining("{listen}");
        assertThatThrownBy(() -> VmmChoice.command(List.of())).hasMessageContaining("empty");
    }

    @Test
    void shouldDefaultToQemuForServeAndToSimForProgrammaticConfigs() throws Exception
    {
        assertThat(new ServeSettings().toConfig().vmm().kind()).isEqualTo(VmmChoice.Kind.QEMU);
        assertThat(new ServeSettings().toConfig().vmm().boot()).isNull();
        assertThat(new AgentConfig(AgentConfig.parseHostPort("127.0.0.1:0"), List.of(), dir, 1, null,
            java.util.UUID.randomUUID(), 1).vmm()).isEqualTo(VmmChoice.SIM);

        final ServeSettings both = new ServeSettings();
        both.guestKernel("/k", "--guest-kernel");
        both.bootrom("/b", "--bootrom");
        assertThatThrownBy(both::toConfig).hasMessageContaining("give one");
        final ServeSettings initrdAlone = new ServeSettings();
        initrdAlone.guestInitrd("/i", "--guest-initrd");
        assertThatThrownBy(initrdAlone::toConfig).hasMessageContaining("go with guest_kernel");
        final ServeSettings noTemplate = new ServeSettings();
        noTemplate.vmm("command", "--vmm");
        assertThatThrownBy(noTemplate::toConfig).hasMessageContaining("vmm_command");
    }

    private Path file(final String name) throws Exception
    {
        return Files.writeString(dir.resolve(name), "x");
    }

    private Path executable(final String name) throws Exception
    {
        final Path file = file(name);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }
}
