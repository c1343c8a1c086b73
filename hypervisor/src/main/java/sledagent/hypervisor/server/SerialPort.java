package sledagent.hypervisor.server;

/**
 * A guest UART as {@code GET /instance/serial} streams it: the output history with absolute offsets, a wait for new
 * output, and a non-blocking input path. Each WebSocket reader keeps only its own offset into the history, so a
 * reader that stops reading falls behind on its own and never holds up the guest or another reader.
 */
public interface SerialPort
{
    /** A machine without a guest (propolis-sim): nothing is ever printed, input is dropped. */
    SerialPort NONE = new SerialPort()
    {
        @Override
        public long total()
        {
            return 0;
        }

        @Override
        public SerialHistory read(final long fromStart, final int maxBytes)
        {
            return SerialHistory.EMPTY;
        }

        @Override
        public boolean write(final byte[] bytes)
        {
            return false;
        }

        @Override
        public long awaitOutput(final long offset, final long timeoutMs) throws InterruptedException
        {
            Thread.sleep(timeoutMs);
            return 0;
        }
    };

    /** Bytes the guest has written so far (the next byte's absolute offset). */
    long total();

    /**
     * @param fromStart absolute offset of the first byte wanted
     * @param maxBytes  at most this many
     * @return the bytes from {@code fromStart} (fewer at the end of the output)
     * @throws PropolisRefusal 400 if that range is no longer kept
     */
    SerialHistory read(long fromStart, int maxBytes) throws PropolisRefusal;

    /**
     * Queues bytes for the guest. Never blocks.
     *
     * @return false if they were dropped (no guest, or too much input already waiting)
     */
    boolean write(byte[] bytes);

    /**
     * Waits until the guest has written past {@code offset}, at most {@code timeoutMs}.
     *
     * @return {@link #total()} when the wait ended
     * @throws InterruptedException if interrupted
     */
    long awaitOutput(long offset, long timeoutMs) throws InterruptedException;

    /**
     * Propolis's control message for the connected clients once the VM has migrated away (the text of
     * {@code {"Migrating": {"destination": ADDR, "from_start": N}}}), or null while it has not. Sessions send it after
     * the output up to {@code from_start}, then close.
     */
    default String migrationNotice()
    {
        return null;
    }
}
