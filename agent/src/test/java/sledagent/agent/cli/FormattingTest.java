package sledagent.agent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import sledagent.api.MigrationRuntimeState;
import sledagent.api.MigrationState;
import sledagent.api.SledVmmState;
import sledagent.api.VmmRuntimeState;
import sledagent.api.VmmState;

/** Tables, the migration summary and the diff of two polls, without an agent. */
class FormattingTest
{
    private static final Instant T = Instant.parse("2026-11-24T10:00:00.123Z");
    private static final UUID A = UUID.fromString("0000000a-0000-4000-8000-000000000000");
    private static final UUID B = UUID.fromString("0000000b-0000-4000-8000-000000000000");
    private static final UUID C = UUID.fromString("0000000c-0000-4000-8000-000000000000");

    @Test
    void shouldAlignColumnsWithoutTrailingSpaces()
    {
        final String table = Tables.table(List.of("ID", "STATE", "X"),
            List.of(List.of("a", "running", ""), List.of("bbbb", "stopped", "1")));

        assertThat(table).isEqualTo("""
            ID    STATE    X
            a     running
            bbbb  stopped  1
            """);
        assertThat(Tables.keyValues(List.of(Map.entry("id", "1"), Map.entry("state", "running"))))
            .isEqualTo("id:     1\nstate:  running\n");
    }

    @Test
    void shouldSummariseMigrations()
    {
        final UUID migration = UUID.randomUUID();
        final SledVmmState both = new SledVmmState(new VmmRuntimeState(VmmState.MIGRATING, 4, T),
            new MigrationRuntimeState(migration, MigrationState.IN_PROGRESS, 2, T),
            new MigrationRuntimeState(migration, MigrationState.COMPLETED, 3, T));

        assertThat(VmmFormat.migrationSummary(both)).isEqualTo("in:in_progress out:completed");
        assertThat(VmmFormat.migrationSummary(state(VmmState.RUNNING, 1))).isEqualTo("-");
        assertThat(VmmFormat.details(A, null, both)).contains("migration in:   " + migration + " in_progress (gen 2");
    }

    @Test
    void shouldDiffTwoPollsInPropolisIdOrder()
    {
        final List<VmmView> first = List.of(view(B, VmmState.RUNNING, 2), view(A, VmmState.STARTING, 1));
        final List<VmmView> second = List.of(view(C, VmmState.STARTING, 1), view(A, VmmState.RUNNING, 3));

        final List<WatchEvent> initial = Changes.between(null, first, T);
        final List<WatchEvent> events = Changes.between(Changes.index(first), second, T);

        assertThat(initial).extracting(WatchEvent::kind)
            .containsExactly(WatchEvent.Kind.PRESENT, WatchEvent.Kind.PRESENT);
        assertThat(events).extracting(WatchEvent::text).containsExactly(
            "2026-11-24T10:00:00.123Z  " + A + "  starting -> running  gen 3",
            "2026-11-24T10:00:00.123Z  " + B + "  gone  (was running)  gen 2",
            "2026-11-24T10:00:00.123Z  " + C + "  appeared  starting  gen 1");
        assertThat(Changes.between(Changes.index(second), second, T)).isEmpty();
        assertThat(events.get(1).json()).contains("\"event\":\"gone\"", "\"old_state\":\"running\"",
            "\"new_state\":null", "\"state\":null");
    }

    private static VmmView view(final UUID id, final VmmState state, final long gen)
    {
        return new VmmView(id, UUID.randomUUID(), "127.0.0.1:1", state(state, gen));
    }

    private static SledVmmState state(final VmmState state, final long gen)
    {
        return new SledVmmState(new VmmRuntimeState(state, gen, T), null, null);
    }
}
