package sledagent.perf;

import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import sledagent.agent.demo.GuestSerial;
import sledagent.agent.demo.TinyGuest;

/** Waits for the tiny guest's marker on a VMM's serial console (Propolis's serial history, over HTTP). */
final class GuestMarker
{
    /** Close to the bare-QEMU floor's 1 ms poll of its serial file, without an HTTP call every millisecond. */
    private static final long POLL_MS = 2;

    private GuestMarker()
    {
    }

    /**
     * @param id    the VMM (for the message)
     * @param addr  its Propolis address
     * @param bound how long to wait
     * @return when the marker was seen
     * @throws IllegalStateException if it was not within {@code bound}
     */
    static Instant await(final UUID id, final String addr, final Duration bound) throws Exception
    {
        final GuestSerial serial = new GuestSerial(addr);
        final long deadlineNs = System.nanoTime() + bound.toNanos();
        while (serial.count(TinyGuest.MARKER) == 0)
        {
            if (System.nanoTime() - deadlineNs > 0)
            {
                throw new IllegalStateException("no " + TinyGuest.MARKER + " from " + id + " within " + bound);
            }
            Thread.sleep(POLL_MS);
        }
        return Instant.now();
    }
}
