package sledagent.hypervisor.qemu;

/**
 * A QMP exchange that did not return: QEMU answered with an {@code error} ({@link CommandFailed}), did not answer
 * in time ({@link TimedOut}), or the connection is gone ({@link Closed}: QEMU exited, the stream broke, or the
 * client was closed). The base class itself is a protocol violation (e.g. a greeting that is not QMP).
 */
public class QmpException extends Exception
{
    private static final long serialVersionUID = 1L;

    /** A protocol violation. */
    public QmpException(final String message)
    {
        super(message);
    }

    QmpException(final String message, final Throwable cause)
    {
        super(message, cause);
    }

    /** QEMU answered {@code {"error":{"class":...,"desc":...}}}. */
    public static final class CommandFailed extends QmpException
    {
        private static final long serialVersionUID = 1L;
        private final String errorClass;
        private final String description;

        /** {@code errorClass} e.g. {@code "GenericError"}, {@code description} QEMU's {@code desc}. */
        public CommandFailed(final String command, final String errorClass, final String description)
        {
            super(command + " failed: " + errorClass + ": " + description);
            this.errorClass = errorClass;
            this.description = description;
        }

        /** QMP's error {@code class}, e.g. {@code "GenericError"} or {@code "CommandNotFound"}. */
        public String errorClass()
        {
            return errorClass;
        }

        /** QMP's {@code desc}: a human-readable reason. */
        public String description()
        {
            return description;
        }
    }

    /** No answer within the call's timeout. The command may still run in QEMU; a late answer is dropped. */
    public static final class TimedOut extends QmpException
    {
        private static final long serialVersionUID = 1L;

        /** {@code command} took longer than {@code timeoutMs}. */
        public TimedOut(final String command, final long timeoutMs)
        {
            super(command + ": no answer from QEMU within " + timeoutMs + " ms");
        }
    }

    /** The connection is gone: QEMU's end of the stream (it exited), a broken stream, or {@code close()}. */
    public static final class Closed extends QmpException
    {
        private static final long serialVersionUID = 1L;

        /** Why it is closed. */
        public Closed(final String message)
        {
            super(message);
        }

        Closed(final String message, final Throwable cause)
        {
            super(message, cause);
        }
    }
}
