package sledagent.agent.config;

/**
 * Bounds on the HTTP API's connections, so that no client (slow, idle or hostile) can hold the agent's
 * descriptors or event loop.
 *
 * @param maxConnections     connections served at once; one more is refused (closed on accept) unless the reserve
 *                           has room
 * @param reserveConnections connections beyond {@code maxConnections} admitted only for {@code GET /health} and
 *                           {@code POST /vmms/{id}/force-terminate} (one request each, then closed), so that an
 *                           operator can still stop a VMM when the limit is taken by others
 * @param idleTimeoutMs      a connection with no request in flight for this long is closed
 * @param readTimeoutMs      a request whose headers and body are not all in this long after its first byte is
 *                           answered 408 and its connection closed (cuts slowloris clients)
 * @param lingerBytes        after an answer that closes the connection (e.g. a 413), at most this much of what the
 *                           client still sends is read and discarded, so that it reads the answer instead of a reset
 * @param lingerMs           ... and for at most this long
 */
public record HttpLimits(int maxConnections, int reserveConnections, long idleTimeoutMs, long readTimeoutMs,
    long lingerBytes, long lingerMs)
{
    /**
     * 4,096 connections: Nexus keeps a small pool per sled (tens), operators a few; 4,096 leaves most of the
     * unit's 65,536 descriptors (LimitNOFILE) to the VMMs (pidfds, logs, Propolis clients) while the agent
     * stays far from its ceiling under a connection flood.
     */
    public static final int DEFAULT_MAX_CONNECTIONS = 4_096;
    /** A few operators' force-terminates and health probes at once. */
    public static final int DEFAULT_RESERVE_CONNECTIONS = 32;
    /**
     * 120 s: longer than the idle time after which clients drop pooled connections themselves (reqwest, which
     * Nexus uses, 90 s), so that the agent seldom closes a connection a client is about to reuse.
     */
    public static final long DEFAULT_IDLE_TIMEOUT_MS = 120_000;
    /** 10 s for headers and a body of at most 1 MiB: 100 KiB/s, far below any control-plane link. */
    public static final long DEFAULT_READ_TIMEOUT_MS = 10_000;
    /** Enough for any body a well-meaning client sends after a refusal (8 x the 1 MiB limit). */
    public static final long DEFAULT_LINGER_BYTES = 8L << 20;
    public static final long DEFAULT_LINGER_MS = 2_000;

    /** Every bound at its default. */
    public static final HttpLimits DEFAULTS = new HttpLimits(DEFAULT_MAX_CONNECTIONS, DEFAULT_RESERVE_CONNECTIONS,
        DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS, DEFAULT_LINGER_BYTES, DEFAULT_LINGER_MS);

    public HttpLimits
    {
        if (maxConnections <= 0)
        {
            throw new IllegalArgumentException("max connections must be positive");
        }
        if (reserveConnections < 0)
        {
            throw new IllegalArgumentException("reserve connections must not be negative");
        }
        if (idleTimeoutMs <= 0 || readTimeoutMs <= 0 || lingerMs <= 0)
        {
            throw new IllegalArgumentException("idle, read and linger timeouts must be positive");
        }
        if (lingerBytes < 0)
        {
            throw new IllegalArgumentException("linger bytes must not be negative");
        }
    }

    /** These limits with another connection limit, idle timeout and read timeout (the settings operators set). */
    public HttpLimits with(final int maxConnections, final long idleTimeoutMs, final long readTimeoutMs)
    {
        return new HttpLimits(maxConnections, reserveConnections, idleTimeoutMs, readTimeoutMs, lingerBytes,
            lingerMs);
    }
}
