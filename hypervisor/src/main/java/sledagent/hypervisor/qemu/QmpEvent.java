package sledagent.hypervisor.qemu;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.Objects;

/**
 * One asynchronous QMP event, e.g. {@code SHUTDOWN {"guest":true,"reason":"guest-shutdown"}}.
 *
 * @param name      the {@code event} name as QEMU sends it ({@code "RESUME"}, {@code "RESET"}, ...)
 * @param data      the {@code data} object; empty (never null) for events without data such as {@code STOP}
 * @param timestamp QEMU's {@code timestamp} (host wall clock, microsecond resolution)
 */
public record QmpEvent(String name, ObjectNode data, Instant timestamp)
{
    public QmpEvent
    {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(timestamp, "timestamp");
    }

    /** {@code data.guest} of a {@code SHUTDOWN} or {@code RESET}: true when the guest asked for it. */
    public boolean guest()
    {
        return data.path("guest").asBoolean(false);
    }

    /** {@code data.reason} of a {@code SHUTDOWN} or {@code RESET} (e.g. {@code "guest-shutdown"}), or null. */
    public String reason()
    {
        return data.hasNonNull("reason") ? data.get("reason").asText() : null;
    }
}
