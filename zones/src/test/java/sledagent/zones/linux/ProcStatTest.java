package sledagent.zones.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import org.junit.jupiter.api.Test;
import sledagent.zones.ZoneException;

class ProcStatTest
{
    @Test
    void shouldParseFieldsAfterTheLastParenthesisOfTheCommand()
    {
        final String line = "4176 (a) b (c)) Z 1 4176 4170 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 "
            + "2580480 178 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

        final ProcStat stat = ProcStat.parse(4176, line);

        assertThat(stat).isEqualTo(new ProcStat(4176, 'Z', 1, 4176, 4170, 123456));
        assertThat(stat.isZombie()).isTrue();
        assertThatThrownBy(() -> ProcStat.parse(1, "1 (x) S 0")).isInstanceOf(ZoneException.class);
        assertThatThrownBy(() -> ProcStat.parse(1, "garbage")).isInstanceOf(ZoneException.class);
    }

    @Test
    void shouldReadThisProcessAndFindItInTheScan()
    {
        assumeTrue(Platform.isLinux(), "Linux only");
        final long self = ProcessHandle.current().pid();

        final ProcStat stat = ProcStat.read(self).orElseThrow();

        assertThat(stat.isZombie()).isFalse();
        assertThat(ProcStat.all()).anyMatch(other -> other.pid() == self && other.startTicks() == stat.startTicks());
        assertThat(ProcStat.read(Integer.MAX_VALUE)).isEmpty();
    }
}
