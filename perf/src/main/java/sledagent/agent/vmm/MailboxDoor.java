package sledagent.agent.vmm;

/**
 * The perf module's door to the agent's package-private {@link Mailbox}, so that {@code MailboxBenchmark} measures
 * the real class and not a copy. It lives in the perf module (same package name, same class loader in the
 * benchmark jar), so the agent keeps {@code Mailbox} package-private. Static and allocation-free: a mailbox built
 * here costs exactly what the agent's does; each call is one cast and one call, inlined by the JIT.
 */
public final class MailboxDoor
{
    private MailboxDoor()
    {
    }

    /** A new, empty mailbox (no lane made yet), as every register makes one. */
    public static Object newMailbox()
    {
        return new Mailbox<Object>();
    }

    /** {@code Mailbox.offerTerminate}. */
    public static boolean offerTerminate(final Object mailbox, final Object message)
    {
        return box(mailbox).offerTerminate(message);
    }

    /** {@code Mailbox.offerInternal}. */
    public static boolean offerInternal(final Object mailbox, final Object message)
    {
        return box(mailbox).offerInternal(message);
    }

    /** {@code Mailbox.offerRequest}. */
    public static boolean offerRequest(final Object mailbox, final Object message)
    {
        return box(mailbox).offerRequest(message);
    }

    /** {@code Mailbox.poll}: the next message by priority, or null. */
    public static Object poll(final Object mailbox)
    {
        return box(mailbox).poll();
    }

    @SuppressWarnings("unchecked")
    private static Mailbox<Object> box(final Object mailbox)
    {
        return (Mailbox<Object>)mailbox;
    }
}
