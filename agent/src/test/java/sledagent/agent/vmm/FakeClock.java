package sledagent.agent.vmm;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock that only moves when the test says so. */
final class FakeClock extends Clock
{
    private volatile Instant now;

    FakeClock(final Instant start)
    {
        this.now = start;
    }

    void advance(final Duration by)
    {
        now = now.plus(by);
    }

    @Override
    public Instant instant()
    {
        return now;
    }

    @Override
    public ZoneId getZone()
    {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(final ZoneId zone)
    {
        return this;
    }
}
