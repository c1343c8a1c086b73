package sledagent.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class FigureTableTest
{
    @Test
    void nearestRankPercentilesAreSamplesThatWereMeasured()
    {
        final FigureTable.Summary s = FigureTable.summarize(List.of(5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0));
        assertThat(s.n()).isEqualTo(10);
        assertThat(s.min()).isEqualTo(1.0);
        assertThat(s.median()).isEqualTo(5.0);
        assertThat(s.p90()).isEqualTo(9.0);
        assertThat(s.max()).isEqualTo(10.0);
    }

    @Test
    void smallSamplesTakeTheRankRoundedUp()
    {
        // n=4: p50 is the 2nd value, p90 the 4th (ceil(3.6)); n=1: every percentile is the sample.
        final FigureTable.Summary four = FigureTable.summarize(List.of(40.0, 10.0, 30.0, 20.0));
        assertThat(four.median()).isEqualTo(20.0);
        assertThat(four.p90()).isEqualTo(40.0);
        final FigureTable.Summary one = FigureTable.summarize(List.of(7.5));
        assertThat(List.of(one.min(), one.median(), one.p90(), one.max())).containsOnly(7.5);
    }

    @Test
    void refusesNoSamplesAndPercentilesOutOfRange()
    {
        assertThatThrownBy(() -> FigureTable.summarize(List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FigureTable.percentile(List.of(1.0), 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FigureTable.percentile(List.of(1.0), 101))
            .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void tableListsFiguresInTheOrderFirstRecorded()
    {
        final FigureTable table = new FigureTable();
        table.add("b second", 2.0);
        table.add("a first", 1.0);
        table.add("b second", 4.0);
        assertThat(table.summary("b second").n()).isEqualTo(2);
        assertThat(table.summary("missing")).isNull();
        final List<String> lines = table.format().lines().toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).contains("figure", "min", "median", "p90", "max");
        assertThat(lines.get(1)).startsWith("b second").endsWith("2      2.00      2.00      4.00      4.00");
        assertThat(lines.get(2)).startsWith("a first").endsWith("1      1.00      1.00      1.00      1.00");
    }
}
