package sledagent.zones.linux;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import sledagent.zones.ZoneException;

/**
 * The few libc calls the Linux zone backends need, bound with JNA interface mapping (slower than direct
 * mapping, but {@code syscall} is variadic and nothing here is on a hot path).
 *
 * <p>Every method throws {@link LastErrorException} carrying the errno when the call fails. Only Linux on
 * x86_64 and aarch64 is supported; {@link #instance()} refuses anything else. Package-private on purpose:
 * other packages reach these calls only through {@link ProcessSignals}, {@link PidfdProcess} and
 * {@link PidfdWatcher}.
 */
interface LinuxLibC extends Library
{
    // errno values (asm-generic, the same on x86_64 and aarch64).
    int ENOENT = 2;
    int ESRCH = 3;
    int EINTR = 4;
    int EAGAIN = 11;
    int EBUSY = 16;
    int EEXIST = 17;
    int ENODEV = 19;
    int ERANGE = 34;
    int ENODATA = 61;
    int EOPNOTSUPP = 95;
    int EWOULDBLOCK = EAGAIN;

    // flock(2)
    int LOCK_EX = 2;
    int LOCK_NB = 4;
    int LOCK_UN = 8;

    // Syscall numbers; pidfd calls got the same number on every architecture (Linux 5.1+).
    long SYS_PIDFD_SEND_SIGNAL = 424;
    long SYS_PIDFD_OPEN = 434;

    // open(2)
    int O_RDONLY = 0;
    int O_CLOEXEC = 0x80000;

    // poll(2) / epoll(7); struct pollfd is {int fd; short events; short revents;} = 8 bytes.
    short POLLIN = 0x1;
    short POLLPRI = 0x2;
    int POLLFD_SIZE = 8;
    int EPOLLIN = 0x1;
    int EPOLLONESHOT = 1 << 30;
    int EPOLL_CLOEXEC = 0x80000;
    int EPOLL_CTL_ADD = 1;
    int EPOLL_CTL_DEL = 2;

    // eventfd(2)
    int EFD_CLOEXEC = 0x80000;
    int EFD_NONBLOCK = 0x800;

    int SIGKILL = 9;

    /**
     * Size of {@code struct epoll_event}: packed on x86_64 (4-byte events + 8-byte data = 12 bytes), naturally
     * aligned elsewhere (16 bytes, data at offset 8).
     */
    int EPOLL_EVENT_SIZE = Platform.isIntel() ? 12 : 16;

    /** Offset of the 64-bit {@code data} field inside {@code struct epoll_event}. */
    int EPOLL_DATA_OFFSET = Platform.isIntel() ? 4 : 8;

    /** Raw syscall; pass every argument as a {@code Long} so the upper register half is defined. */
    long syscall(long number, Object... args) throws LastErrorException;

    int open(String path, int flags) throws LastErrorException;

    long pread(int fd, Pointer buf, long count, long offset) throws LastErrorException;

    long read(int fd, Pointer buf, long count) throws LastErrorException;

    long write(int fd, Pointer buf, long count) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    int poll(Pointer fds, int nfds, int timeoutMs) throws LastErrorException;

    int epoll_create1(int flags) throws LastErrorException;

    int epoll_ctl(int epfd, int op, int fd, Pointer event) throws LastErrorException;

    int epoll_wait(int epfd, Pointer events, int maxEvents, int timeoutMs) throws LastErrorException;

    int eventfd(int initialValue, int flags) throws LastErrorException;

    int mkdir(String path, int mode) throws LastErrorException;

    int flock(int fd, int operation) throws LastErrorException;

    int setxattr(String path, String name, byte[] value, long size, int flags) throws LastErrorException;

    long getxattr(String path, String name, byte[] value, long size) throws LastErrorException;

    int rmdir(String path) throws LastErrorException;

    /** {@code kill(2)}; only used with a negative pid (a whole process group), see {@link ProcessSignals}. */
    int kill(int pid, int sig) throws LastErrorException;

    /**
     * The loaded binding.
     *
     * @throws ZoneException on anything but 64-bit Linux on x86_64 or aarch64, or if libc cannot be loaded.
     */
    static LinuxLibC instance()
    {
        final LinuxLibC libc = Holder.LIBC;
        if (libc == null)
        {
            throw new ZoneException("the Linux zone backend needs 64-bit Linux on x86_64 or aarch64: " +
                Holder.UNSUPPORTED);
        }
        return libc;
    }

    /**
     * Polls one fd.
     *
     * @return the returned events ({@code revents}), or 0 on timeout; EINTR counts as a timeout.
     */
    static short pollOne(final LinuxLibC libc, final int fd, final short events, final int timeoutMs)
    {
        final Memory pollfd = new Memory(POLLFD_SIZE);
        pollfd.setInt(0, fd);
        pollfd.setShort(4, events);
        pollfd.setShort(6, (short)0);
        try
        {
            final int ready = libc.poll(pollfd, 1, timeoutMs);
            return ready > 0 ? pollfd.getShort(6) : 0;
        }
        catch (final LastErrorException ex)
        {
            if (ex.getErrorCode() == EINTR)
            {
                return 0;
            }
            throw ex;
        }
    }

    /** Closes an fd, ignoring errors: used on cleanup paths where the fd is being dropped anyway. */
    static void closeQuietly(final LinuxLibC libc, final int fd)
    {
        if (fd < 0)
        {
            return;
        }
        try
        {
            libc.close(fd);
        }
        catch (final LastErrorException ignored)
        {
            // Linux always releases the fd, even when close() reports an error; retrying could close a reused fd.
        }
    }

    /** Loads libc once, on first use, so merely touching the class on another OS does not fail. */
    final class Holder
    {
        static final LinuxLibC LIBC;
        static final String UNSUPPORTED;

        static
        {
            LinuxLibC libc = null;
            String reason = null;
            if (!Platform.isLinux())
            {
                reason = "os is " + System.getProperty("os.name");
            }
            else if (!Platform.is64Bit() || !(Platform.isIntel() || Platform.isARM()))
            {
                reason = "arch is " + Platform.ARCH;
            }
            else
            {
                try
                {
                    libc = Native.load("c", LinuxLibC.class);
                }
                catch (final UnsatisfiedLinkError ex)
                {
                    reason = "cannot load libc: " + ex.getMessage();
                }
            }
            LIBC = libc;
            UNSUPPORTED = reason;
        }

        private Holder()
        {
        }
    }
}
