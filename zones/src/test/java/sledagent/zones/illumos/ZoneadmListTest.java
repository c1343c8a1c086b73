package sledagent.zones.illumos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import sledagent.zones.ZoneException;

class ZoneadmListTest
{
    @Test
    void shouldParseEveryFieldOfEachLine()
    {
        final List<ZoneadmList.Entry> entries = ZoneadmList.parse("""
            0:global:running:/::ipkg:shared
            7:oxz_propolis-server_a:running:/zone/oxz_propolis-server_a:0f1e-uuid:omicron1:excl
            -:oxz_propolis-server_b:installed:/zone/oxz_propolis-server_b::omicron1:excl

            """);

        assertThat(entries).containsExactly(
            new ZoneadmList.Entry(Optional.of(0L), "global", ZoneState.RUNNING, "running", "/", "", "ipkg", "shared"),
            new ZoneadmList.Entry(Optional.of(7L), "oxz_propolis-server_a", ZoneState.RUNNING, "running",
                "/zone/oxz_propolis-server_a", "0f1e-uuid", "omicron1", "excl"),
            new ZoneadmList.Entry(Optional.empty(), "oxz_propolis-server_b", ZoneState.INSTALLED, "installed",
                "/zone/oxz_propolis-server_b", "", "omicron1", "excl"));
    }

    @Test
    void shouldUnescapeColonsInZonepathAndIgnoreExtraFields()
    {
        final ZoneadmList.Entry entry = ZoneadmList.parseLine("-:z:configured:/zones/a\\:b\\c:u:omicron1:excl:42");

        assertThat(entry.path()).isEqualTo("/zones/a:b\\c");
        assertThat(entry.ipType()).isEqualTo("excl");
    }

    @Test
    void shouldParseEveryStateAndKeepUnknownOnes()
    {
        for (final ZoneState state : ZoneState.values())
        {
            if (state != ZoneState.UNKNOWN)
            {
                assertThat(ZoneState.parse(state.text())).isEqualTo(state);
            }
        }
        assertThat(ZoneState.parse("shutting_down")).isEqualTo(ZoneState.SHUTTING_DOWN);
        final ZoneadmList.Entry odd = ZoneadmList.parseLine("-:z:frobnicated:/z");
        assertThat(odd.state()).isEqualTo(ZoneState.UNKNOWN);
        assertThat(odd.stateText()).isEqualTo("frobnicated");
        assertThat(odd.brand()).isEmpty();
    }

    @Test
    void shouldRefuseMalformedLines()
    {
        assertThatThrownBy(() -> ZoneadmList.parseLine("global:running")).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> ZoneadmList.parseLine("x:global:running:/")).isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldTellEmptyAndTransientStates()
    {
        assertThat(List.of(ZoneState.values())).filteredOn(ZoneState::isEmpty)
            .containsExactly(ZoneState.CONFIGURED, ZoneState.INCOMPLETE, ZoneState.INSTALLED);
        assertThat(List.of(ZoneState.values())).filteredOn(ZoneState::isTransient)
            .containsExactly(ZoneState.SHUTTING_DOWN, ZoneState.DOWN);
    }
}
