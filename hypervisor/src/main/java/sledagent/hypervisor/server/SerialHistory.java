package sledagent.hypervisor.server;

/**
 * The answer of {@code GET /instance/serial/history} ({@code InstanceSerialConsoleHistoryResponse}).
 *
 * @param data           the bytes
 * @param lastByteOffset absolute offset just past the last byte of {@code data}
 */
public record SerialHistory(byte[] data, long lastByteOffset)
{
    /** A console that has printed nothing. */
    public static final SerialHistory EMPTY = new SerialHistory(new byte[0], 0);
}
