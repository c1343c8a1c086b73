package sledagent.agent.service;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;

/**
 * Sends one datagram to an {@code AF_UNIX} socket (a path, or an abstract name written with a leading '@').
 * The JDK has no unix datagram sockets before 22, and sd_notify needs exactly that.
 */
public final class UnixDatagram
{
    static final int AF_UNIX = 1;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_CLOEXEC = 0x80000;
    /** sizeof(struct sockaddr_un): 2 bytes of family, 108 of path. */
    static final int SOCKADDR_UN_SIZE = 110;
    private static final int PATH_MAX_BYTES = 107;

    private UnixDatagram()
    {
    }

    /** The libc calls used here and by tests. */
    interface LibC extends Library
    {
        LibC INSTANCE = Native.load("c", LibC.class);

        int socket(int domain, int type, int protocol) throws LastErrorException;

        int bind(int fd, Pointer address, int length) throws LastErrorException;

        long sendto(int fd, byte[] buffer, long length, int flags, Pointer address, int addressLength)
            throws LastErrorException;

        long recv(int fd, byte[] buffer, long length, int flags) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    /** Sends {@code message} to {@code socketPath}; throws with errno on failure. */
    public static void send(final String socketPath, final String message)
    {
        final Memory address = address(socketPath);
        final int fd = LibC.INSTANCE.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        try
        {
            final byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
            LibC.INSTANCE.sendto(fd, bytes, bytes.length, 0, address, addressLength(socketPath));
        }
        finally
        {
            LibC.INSTANCE.close(fd);
        }
    }

    /** A {@code struct sockaddr_un} for a path, or for an abstract name given as {@code @name}. */
    static Memory address(final String socketPath)
    {
        final byte[] path = socketPath.getBytes(StandardCharsets.UTF_8);
        if (path.length == 0 || path.length > PATH_MAX_BYTES)
        {
            throw new IllegalArgumentException("bad unix socket path: '" + socketPath + "'");
        }
        final Memory address = new Memory(SOCKADDR_UN_SIZE);
        address.clear();
        address.setShort(0, (short)AF_UNIX);
        address.write(2, path, 0, path.length);
        if (path[0] == '@')
        {
            address.setByte(2, (byte)0);
        }
        return address;
    }

    /** An abstract name's length counts exactly its bytes; a path's includes the terminating NUL. */
    static int addressLength(final String socketPath)
    {
        final int bytes = socketPath.getBytes(StandardCharsets.UTF_8).length;
        return 2 + (socketPath.startsWith("@") ? bytes : bytes + 1);
    }
}
