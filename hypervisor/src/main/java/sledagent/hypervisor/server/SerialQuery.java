package sledagent.hypervisor.server;

/**
 * The query of {@code GET /instance/serial/history}: exactly one of {@code from_start} and {@code most_recent}.
 *
 * @param fromStart  absolute offset of the first byte wanted, or -1
 * @param mostRecent how many of the newest bytes are wanted, or -1
 * @param maxBytes   at most this many bytes in the answer, or -1 for the server's default
 */
public record SerialQuery(long fromStart, long mostRecent, long maxBytes)
{
    /** True if the query counts from the first byte the guest wrote. */
    public boolean isFromStart()
    {
        return fromStart >= 0;
    }
}
