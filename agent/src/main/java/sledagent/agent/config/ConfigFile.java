package sledagent.agent.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Reads {@code config.toml} into {@link ServeSettings}: every key of {@link ServeSettings#KEYS}, nothing else
 * (an unknown key is an error, so a typo never goes unnoticed). Durations are strings like {@code "600s"}.
 */
public final class ConfigFile
{
    private static final TomlMapper TOML = new TomlMapper();

    private ConfigFile()
    {
    }

    /** Applies the file's settings to {@code settings}. */
    public static void apply(final Path file, final ServeSettings settings)
    {
        final String source = file.toString();
        final JsonNode root;
        try
        {
            root = TOML.readTree(Files.readString(file));
        }
        catch (final IOException ex)
        {
            throw new ServeSettings.SettingException(source, "file", firstLine(ex.getMessage()));
        }
        for (final Map.Entry<String, JsonNode> entry : root.properties())
        {
            final String key = entry.getKey();
            final JsonNode value = entry.getValue();
            switch (key)
            {
                case "listen" -> settings.listen(text(value, source, key), source);
                case "nexus_urls" ->
                {
                    if (!value.isArray())
                    {
                        throw new ServeSettings.SettingException(source, key, "must be an array of URLs");
                    }
                    for (final JsonNode url : value)
                    {
                        settings.addNexusUrl(text(url, source, key), source, false);
                    }
                }
                case "state_dir" -> settings.stateDir(text(value, source, key), source);
                case "stop_grace" -> settings.stopGrace(text(value, source, key), source);
                case "start_timeout" -> settings.startTimeout(text(value, source, key), source);
                case "zone_root" -> settings.zoneRoot(text(value, source, key), source);
                case "zones" -> settings.zones(text(value, source, key), source);
                case "sweep_interval" -> settings.sweepInterval(text(value, source, key), source);
                case "sled_id" -> settings.sledId(text(value, source, key), source);
                case "log_format" -> settings.logFormat(text(value, source, key), source);
                case "max_connections" ->
                {
                    if (!value.canConvertToInt())
                    {
                        throw new ServeSettings.SettingException(source, key, "must be a number, got " + value);
                    }
                    settings.maxConnections(Integer.toString(value.asInt()), source);
                }
                case "idle_timeout" -> settings.idleTimeout(text(value, source, key), source);
                case "read_timeout" -> settings.readTimeout(text(value, source, key), source);
                case "vmm_log_retention" -> settings.vmmLogRetention(text(value, source, key), source);
                case "vmm_log_max_size" -> settings.vmmLogMaxSize(text(value, source, key), source);
                case "vmm" -> settings.vmm(text(value, source, key), source);
                case "qemu" -> settings.qemu(text(value, source, key), source);
                case "accel" -> settings.accel(text(value, source, key), source);
                case "guest_kernel" -> settings.guestKernel(text(value, source, key), source);
                case "guest_initrd" -> settings.guestInitrd(text(value, source, key), source);
                case "guest_append" -> settings.guestAppend(text(value, source, key), source);
                case "bootrom" -> settings.bootrom(text(value, source, key), source);
                case "vmm_command" ->
                {
                    if (!value.isArray())
                    {
                        throw new ServeSettings.SettingException(source, key,
                            "must be an array of strings, e.g. [\"/opt/propolis/propolis-server\", \"run\", "
                            + "\"/etc/propolis/config.toml\", \"{listen}\"]");
                    }
                    final java.util.List<String> argv = new java.util.ArrayList<>();
                    for (final JsonNode arg : value)
                    {
                        argv.add(text(arg, source, key));
                    }
                    settings.vmmCommand(argv, source);
                }
                default ->
                {
                    final ServeSettings.TlsKey tls = ServeSettings.TlsKey.ofKey(key);
                    if (tls == null)
                    {
                        throw new ServeSettings.SettingException(source, key, "unknown setting; known: "
                            + String.join(", ", ServeSettings.KEYS));
                    }
                    settings.tlsFile(tls, text(value, source, key), source);
                }
            }
        }
    }

    private static String text(final JsonNode value, final String source, final String key)
    {
        if (!value.isTextual())
        {
            throw new ServeSettings.SettingException(source, key, "must be a string, got " + value);
        }
        return value.asText();
    }

    private static String firstLine(final String message)
    {
        if (message == null)
        {
            return "unreadable";
        }
        final int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
