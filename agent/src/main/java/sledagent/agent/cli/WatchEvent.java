package sledagent.agent.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.UUID;
import sledagent.api.Json;
import sledagent.api.SledVmmState;

/**
 * One thing {@code vmm watch} saw between two polls, as a text line or a JSON object.
 *
 * @param time       when the poll that saw it was answered
 * @param kind       what happened
 * @param propolisId the VMM
 * @param instanceId its instance
 * @param before     its state at the previous poll; null for {@link Kind#PRESENT} and {@link Kind#APPEARED}
 * @param after      its state now; null for {@link Kind#GONE}
 */
public record WatchEvent(Instant time, Kind kind, UUID propolisId, UUID instanceId, SledVmmState before,
    SledVmmState after)
{
    private static final DateTimeFormatter TIME =
        DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

    /** What happened to a VMM between two polls. */
    public enum Kind
    {
        /** Already there at the first poll. */
        PRESENT,
        /** Registered since the previous poll. */
        APPEARED,
        /** Its state changed (the state, the generation or a migration). */
        CHANGED,
        /** No longer in the agent's table (unregistered). */
        GONE;

        /** The lower-case name used in both outputs. */
        public String label()
        {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The text line, e.g. {@code 2026-11-24T10:00:00.250Z  6dd4...  starting -> destroyed  gen 3}.
     *
     * @return the line, without a newline
     */
    public String text()
    {
        final StringBuilder line = new StringBuilder(TIME.format(time)).append("  ").append(propolisId).append("  ");
        final SledVmmState shown = after != null ? after : before;
        switch (kind)
        {
            case PRESENT, APPEARED -> line.append(kind.label()).append("  ").append(VmmFormat.stateName(after));
            case CHANGED -> line.append(VmmFormat.stateName(before)).append(" -> ").append(VmmFormat.stateName(after));
            case GONE -> line.append("gone  (was ").append(VmmFormat.stateName(before)).append(')');
        }
        line.append("  gen ").append(shown.vmmState().gen());
        final String migration = VmmFormat.migrationSummary(shown);
        if (!"-".equals(migration))
        {
            line.append("  migration ").append(migration);
        }
        return line.toString();
    }

    /**
     * One JSON object on one line: {@code time, event, propolis_id, instance_id, old_state, new_state, gen} and
     * {@code state}, the full new {@code SledVmmState} (null when gone).
     *
     * @return the JSON text
     */
    public String json()
    {
        final ObjectNode node = Json.mapper().createObjectNode();
        node.put("time", TIME.format(time));
        node.put("event", kind.label());
        node.put("propolis_id", propolisId.toString());
        node.put("instance_id", instanceId == null ? null : instanceId.toString());
        node.put("old_state", before == null ? null : VmmFormat.stateName(before));
        node.put("new_state", after == null ? null : VmmFormat.stateName(after));
        node.put("gen", (after != null ? after : before).vmmState().gen());
        node.set("state", Json.mapper().valueToTree(after));
        try
        {
            return Json.mapper().writeValueAsString(node);
        }
        catch (final JsonProcessingException ex)
        {
            throw new IllegalStateException("cannot encode a watch event", ex);
        }
    }
}
