package sledagent.hypervisor.qemu;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.concurrent.TimeUnit;
import sledagent.api.Json;
import sledagent.hypervisor.server.PropolisRefusal;
import sledagent.hypervisor.server.SerialHistory;
import sledagent.hypervisor.server.SerialPort;

/**
 * com1 of a QEMU guest as {@code GET /instance/serial} streams it: the {@link SerialRing} the permanent
 * {@link SerialConsole} reader fills, woken by its live-output hook ({@link #outputArrived}), and the console's
 * bounded, non-blocking input queue.
 */
final class QemuSerialPort implements SerialPort
{
    private final SerialRing ring;
    private volatile SerialConsole console;
    private volatile String migrationNotice;

    QemuSerialPort(final SerialRing ring)
    {
        this.ring = ring;
    }

    /** Set once the console is started (it needs {@link #outputArrived} as its hook first). */
    void attach(final SerialConsole serialConsole)
    {
        this.console = serialConsole;
    }

    /** The console's live-output hook, on its reader thread: wakes the WebSocket readers and nothing else. */
    synchronized void outputArrived(final SerialRing.Slice slice)
    {
        notifyAll();
    }

    /**
     * The VM has moved to the Propolis server at {@code destination}; its history ends at {@code fromStart}. Wakes
     * every session so that it sends Propolis's {@code Migrating} control message.
     */
    synchronized void migrated(final String destination, final long fromStart)
    {
        final ObjectNode notice = Json.mapper().createObjectNode();
        notice.putObject("Migrating").put("destination", destination).put("from_start", fromStart);
        migrationNotice = notice.toString();
        notifyAll();
    }

    @Override
    public String migrationNotice()
    {
        return migrationNotice;
    }

    @Override
    public long total()
    {
        return ring.total();
    }

    @Override
    public SerialHistory read(final long fromStart, final int maxBytes) throws PropolisRefusal
    {
        try
        {
            final SerialRing.Slice slice = ring.history(fromStart, null, (long) maxBytes);
            return new SerialHistory(slice.data(), slice.endOffset());
        }
        catch (final SerialRing.ExpiredRangeException e)
        {
            throw PropolisRefusal.badRequest(e.getMessage());
        }
    }

    @Override
    public boolean write(final byte[] bytes)
    {
        final SerialConsole current = console;
        return current != null && current.write(bytes);
    }

    @Override
    public synchronized long awaitOutput(final long offset, final long timeoutMs) throws InterruptedException
    {
        final long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        long total = ring.total();
        while (total <= offset && migrationNotice == null)
        {
            final long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime());
            if (leftMs <= 0)
            {
                break;
            }
            wait(leftMs);
            total = ring.total();
        }
        return total;
    }
}
