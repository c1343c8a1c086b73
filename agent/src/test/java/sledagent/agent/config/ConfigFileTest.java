package sledagent.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sledagent.agent.log.LogFormat;

class ConfigFileTest
{
    @TempDir
    Path dir;

    @Test
    void shouldReadEverySetting() throws Exception
    {
        final UUID sled = UUID.randomUUID();
        final Path file = write("""
            listen = "127.0.0.1:4000"
            nexus_urls = ["http://10.0.0.1:12221", "http://10.0.0.2:12221"]
            state_dir = "/var/lib/x"
            stop_grace = "30s"
            start_timeout = "90s"
            zone_root = "/sys/fs/cgroup/unified/sled"
            zones = "pgroup"
            sweep_interval = "5m"
            sled_id = "%s"
            log_format = "text"
            vmm_log_retention = "2h"
            vmm_log_max_size = "8MiB"
            """.formatted(sled));
        final ServeSettings settings = new ServeSettings();
        ConfigFile.apply(file, settings);
        final AgentConfig config = settings.toConfig();
        assertThat(config.listen().getPort()).isEqualTo(4000);
        assertThat(config.nexusUrls()).containsExactly(URI.create("http://10.0.0.1:12221"),
            URI.create("http://10.0.0.2:12221"));
        assertThat(config.stateDir()).isEqualTo(Path.of("/var/lib/x"));
        assertThat(config.stopGraceMs()).isEqualTo(30_000);
        assertThat(config.startTimeoutMs()).isEqualTo(90_000);
        assertThat(config.zoneRoot()).isEqualTo(Path.of("/sys/fs/cgroup/unified/sled"));
        assertThat(config.zoneBackend()).isEqualTo("pgroup");
        assertThat(config.sweepIntervalMs()).isEqualTo(300_000);
        assertThat(config.sledId()).isEqualTo(sled);
        assertThat(settings.logFormat()).isEqualTo(LogFormat.TEXT);
        assertThat(config.vmmLogRetentionMs()).isEqualTo(7_200_000);
        assertThat(config.vmmLogMaxBytes()).isEqualTo(8L << 20);
    }

    @Test
    void shouldLetFlagsOverrideTheFile() throws Exception
    {
        final ServeSettings settings = new ServeSettings();
        ConfigFile.apply(write("stop_grace = \"30s\"\nnexus_urls = [\"http://a:1\"]\n"), settings);
        settings.stopGrace("2s", "--stop-grace");
        settings.addNexusUrl("http://b:2", "--nexus", true);
        final AgentConfig config = settings.toConfig();
        assertThat(config.stopGraceMs()).isEqualTo(2_000);
        assertThat(config.nexusUrls()).containsExactly(URI.create("http://b:2"));
    }

    @Test
    void shouldRefuseMistakesClearly() throws Exception
    {
        assertThatThrownBy(() -> ConfigFile.apply(write("stop_grace = \"ten\"\n"), new ServeSettings()))
            .hasMessageContaining("stop_grace").hasMessageContaining("bad duration 'ten'");
        assertThatThrownBy(() -> ConfigFile.apply(write("stop_grase = \"10s\"\n"), new ServeSettings()))
            .hasMessageContaining("stop_grase: unknown setting");
        assertThatThrownBy(() -> ConfigFile.apply(write("stop_grace = 10\n"), new ServeSettings()))
            .hasMessageContaining("must be a string");
        assertThatThrownBy(() -> ConfigFile.apply(write("nexus_urls = \"http://a:1\"\n"), new ServeSettings()))
            .hasMessageContaining("must be an array");
        assertThatThrownBy(() -> ConfigFile.apply(write("nexus_urls = [\"ftp://a\"]\n"), new ServeSettings()))
            .hasMessageContaining("http://host:port");
        assertThatThrownBy(() -> ConfigFile.apply(write("vmm_log_max_size = \"lots\"\n"), new ServeSettings()))
            .hasMessageContaining("vmm_log_max_size").hasMessageContaining("64MiB");
        assertThatThrownBy(() -> ConfigFile.apply(write("zones = \"docker\"\n"), new ServeSettings()))
            .hasMessageContaining("expected auto, cgroup");
        assertThatThrownBy(() -> ConfigFile.apply(write("listen = [\n"), new ServeSettings()))
            .hasMessageContaining(dir.toString());
        assertThatThrownBy(() -> ConfigFile.apply(dir.resolve("missing.toml"), new ServeSettings()))
            .hasMessageContaining("missing.toml");
    }

    @Test
    void shouldAcceptThePackagedExample() throws Exception
    {
        final Path example = Path.of(System.getProperty("user.dir")).resolve("../packaging/config/config.toml")
            .normalize();
        final ServeSettings settings = new ServeSettings();
        ConfigFile.apply(example, settings);
        assertThat(settings.toConfig().listen().getPort()).isPositive();
        // The package runs real VMs: QEMU booting OVMF.
        assertThat(settings.toConfig().vmm()).isEqualTo(VmmChoice.qemu(Path.of("qemu-system-x86_64"), "auto",
            new sledagent.hypervisor.qemu.BootSource.Bootrom(Path.of("/usr/share/ovmf/OVMF.fd"))));
        final String text = Files.readString(example);
        // Every setting is documented in the example (set or commented out).
        assertThat(ServeSettings.KEYS).allSatisfy(key -> assertThat(text).contains(key + " = "));
        // The TLS settings are commented out: TLS is off by default.
        assertThat(ServeSettings.TlsKey.values())
            .allSatisfy(tls -> assertThat(text).containsPattern("(?m)^# " + tls.key() + " = "));
    }

    @Test
    void shouldReadTheVmmChoice() throws Exception
    {
        final ServeSettings qemu = new ServeSettings();
        ConfigFile.apply(write("""
            vmm = "qemu"
            qemu = "/usr/bin/qemu-system-x86_64"
            accel = "tcg"
            guest_kernel = "/g/vmlinux"
            guest_initrd = "/g/initramfs.cpio.gz"
            guest_append = "console=ttyS0"
            """), qemu);
        final VmmChoice choice = qemu.toConfig().vmm();
        assertThat(choice.kind()).isEqualTo(VmmChoice.Kind.QEMU);
        assertThat(choice.qemu()).isEqualTo(Path.of("/usr/bin/qemu-system-x86_64"));
        assertThat(choice.accel()).isEqualTo("tcg");
        assertThat(choice.boot()).isEqualTo(new sledagent.hypervisor.qemu.BootSource.Kernel(Path.of("/g/vmlinux"),
            Path.of("/g/initramfs.cpio.gz"), "console=ttyS0"));

        final ServeSettings command = new ServeSettings();
        ConfigFile.apply(write("vmm = \"command\"\nvmm_command = [\"/opt/p\", \"run\", \"{listen}\"]\n"), command);
        assertThat(command.toConfig().vmm().template()).containsExactly("/opt/p", "run", "{listen}");
        command.vmm("sim", "--vmm");
        assertThat(command.toConfig().vmm()).isEqualTo(VmmChoice.SIM);

        assertThatThrownBy(() -> ConfigFile.apply(write("vmm = \"xen\"\n"), new ServeSettings()))
            .hasMessageContaining("vmm").hasMessageContaining("qemu, sim or command");
        assertThatThrownBy(() -> ConfigFile.apply(write("accel = \"hvf\"\n"), new ServeSettings()))
            .hasMessageContaining("accel").hasMessageContaining("auto, kvm or tcg");
        assertThatThrownBy(() -> ConfigFile.apply(write("vmm_command = \"/opt/p {listen}\"\n"), new ServeSettings()))
            .hasMessageContaining("must be an array");
        assertThatThrownBy(() -> ConfigFile.apply(write("vmm_command = [\"/opt/p\"]\n"), new ServeSettings()))
            .hasMessageContaining("{listen}");
    }

    @Test
    void shouldReadHttpLimits() throws Exception
    {
        final ServeSettings settings = new ServeSettings();
        ConfigFile.apply(write("max_connections = 100\nidle_timeout = \"5s\"\nread_timeout = \"2s\"\n"), settings);
        final HttpLimits limits = settings.toConfig().httpLimits();
        assertThat(limits.maxConnections()).isEqualTo(100);
        assertThat(limits.idleTimeoutMs()).isEqualTo(5_000);
        assertThat(limits.readTimeoutMs()).isEqualTo(2_000);
        assertThat(new ServeSettings().toConfig().httpLimits()).isEqualTo(HttpLimits.DEFAULTS);
        assertThatThrownBy(() -> ConfigFile.apply(write("max_connections = \"many\"\n"), new ServeSettings()))
            .hasMessageContaining("max_connections");
        assertThatThrownBy(() -> ConfigFile.apply(write("max_connections = 0\n"), new ServeSettings()))
            .hasMessageContaining("must be positive");
    }

    private Path write(final String toml) throws Exception
    {
        final Path file = Files.createTempFile(dir, "config", ".toml");
        Files.writeString(file, toml);
        return file;
    }
}
