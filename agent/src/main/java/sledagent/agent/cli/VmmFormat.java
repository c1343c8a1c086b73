package sledagent.agent.cli;

import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.SledVmmState;

/** How VMMs read in text: the {@code vmm list} table and the {@code key: value} view of one VMM. */
public final class VmmFormat
{
    /** The columns of {@code vmm list}. */
    public static final List<String> LIST_HEADERS =
        List.of("PROPOLIS ID", "INSTANCE ID", "STATE", "GEN", "UPDATED", "MIGRATION");

    private static final String NONE = "-";

    private VmmFormat()
    {
    }

    /** The {@code vmm list} table, sorted by propolis id; "no VMMs" when there are none. */
    public static String list(final List<VmmView> vmms)
    {
        if (vmms.isEmpty())
        {
            return "no VMMs\n";
        }
        final List<VmmView> sorted = new ArrayList<>(vmms);
        sorted.sort(Comparator.comparing((final VmmView vmm) -> vmm.propolisId().toString()));
        final List<List<String>> rows = new ArrayList<>(sorted.size());
        for (final VmmView vmm : sorted)
        {
            rows.add(List.of(vmm.propolisId().toString(), String.valueOf(vmm.instanceId()), stateName(vmm.state()),
                Long.toString(vmm.state().vmmState().gen()), seconds(vmm.state().vmmState().timeUpdated()),
                migrationSummary(vmm.state())));
        }
        return Tables.table(LIST_HEADERS, rows);
    }

    /**
     * One VMM as aligned {@code key: value} lines.
     *
     * @param propolisId the VMM's id
     * @param view       its row from {@code GET /vmms} for the instance and address, or null if not known
     * @param state      its state
     * @return the lines
     */
    public static String details(final UUID propolisId, final VmmView view, final SledVmmState state)
    {
        final List<Map.Entry<String, String>> lines = new ArrayList<>();
        lines.add(Map.entry("propolis id", propolisId.toString()));
        if (view != null)
        {
            lines.add(Map.entry("instance id", String.valueOf(view.instanceId())));
            lines.add(Map.entry("propolis addr", String.valueOf(view.propolisAddr())));
        }
        lines.add(Map.entry("state", stateName(state)));
        lines.add(Map.entry("gen", Long.toString(state.vmmState().gen())));
        lines.add(Map.entry("updated", String.valueOf(state.vmmState().timeUpdated())));
        lines.add(Map.entry("migration in", migration(state.migrationIn())));
        lines.add(Map.entry("migration out", migration(state.migrationOut())));
        return Tables.keyValues(lines);
    }

    /** The wire name of the VMM's state, e.g. {@code running}. */
    public static String stateName(final SledVmmState state)
    {
        return state.vmmState().state().wireName();
    }

    /** {@code in:pending out:completed}, one side only, or {@code -} when the VMM is in no migration. */
    public static String migrationSummary(final SledVmmState state)
    {
        final List<String> sides = new ArrayList<>(2);
        if (state.migrationIn() != null)
        {
            sides.add("in:" + migrationStateName(state.migrationIn()));
        }
        if (state.migrationOut() != null)
        {
            sides.add("out:" + migrationStateName(state.migrationOut()));
        }
        return sides.isEmpty() ? NONE : String.join(" ", sides);
    }

    /** An instant to the second, e.g. {@code 2026-11-24T00:00:00Z}. */
    public static String seconds(final Instant time)
    {
        return DateTimeFormatter.ISO_INSTANT.format(time.truncatedTo(ChronoUnit.SECONDS));
    }

    private static String migration(final MigrationRuntimeState side)
    {
        if (side == null)
        {
            return NONE;
        }
        return side.migrationId() + " " + migrationStateName(side) + " (gen " + side.gen() + ", updated "
            + side.timeUpdated() + ")";
    }

    private static String migrationStateName(final MigrationRuntimeState side)
    {
        return side.state().name().toLowerCase(Locale.ROOT);
    }
}
