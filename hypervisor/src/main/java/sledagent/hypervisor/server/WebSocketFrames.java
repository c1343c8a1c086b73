package sledagent.hypervisor.server;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

/**
 * The server side of RFC 6455 framing, as much as a serial console needs: the handshake's accept key, reading a
 * client's (masked) frame with a bounded payload, and writing unmasked frames. No extensions, no fragmented sends.
 */
final class WebSocketFrames
{
    /** Opcodes (RFC 6455 §5.2). */
    static final int CONTINUATION = 0x0;
    static final int TEXT = 0x1;
    static final int BINARY = 0x2;
    static final int CLOSE = 0x8;
    static final int PING = 0x9;
    static final int PONG = 0xA;

    private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private WebSocketFrames()
    {
    }

    /**
     * One frame as read.
     *
     * @param opcode  the opcode
     * @param fin     last fragment of its message
     * @param payload the unmasked payload
     */
    record Frame(int opcode, boolean fin, byte[] payload)
    {
    }

    /** A frame that breaks the protocol or exceeds the limit: the connection ends with this close code. */
    static final class ProtocolException extends IOException
    {
        private static final long serialVersionUID = 1L;
        private final int closeCode;

        ProtocolException(final int closeCode, final String message)
        {
            super(message);
            this.closeCode = closeCode;
        }

        int closeCode()
        {
            return closeCode;
        }
    }

    /** {@code Sec-WebSocket-Accept} for a client's {@code Sec-WebSocket-Key}. */
    static String acceptKey(final String clientKey)
    {
        try
        {
            final MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            return Base64.getEncoder().encodeToString(
                sha1.digest((clientKey.strip() + GUID).getBytes(StandardCharsets.US_ASCII)));
        }
        catch (final NoSuchAlgorithmException e)
        {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
    }

    /**
     * Reads one frame; blocks until it is complete.
     *
     * @param in              the connection
     * @param maxPayloadBytes a larger frame is a protocol error (1009)
     * @throws EOFException      if the connection ended
     * @throws ProtocolException for an unmasked frame, reserved bits, or a payload over the limit
     */
    static Frame read(final InputStream in, final int maxPayloadBytes) throws IOException
    {
        final int b0 = readByte(in);
        final int b1 = readByte(in);
        if ((b0 & 0x70) != 0)
        {
            throw new ProtocolException(1002, "reserved bits set without an extension");
        }
        if ((b1 & 0x80) == 0)
        {
            throw new ProtocolException(1002, "client frames must be masked");
        }
        long length = b1 & 0x7f;
        if (length == 126)
        {
            length = (readByte(in) << 8) | readByte(in);
        }
        else if (length == 127)
        {
            length = 0;
            for (int i = 0; i < 8; i++)
            {
                length = (length << 8) | readByte(in);
            }
        }
        if (length < 0 || length > maxPayloadBytes)
        {
            throw new ProtocolException(1009, "frame of " + length + " bytes exceeds " + maxPayloadBytes);
        }
        final byte[] mask = readFully(in, 4);
        final byte[] payload = readFully(in, (int) length);
        for (int i = 0; i < payload.length; i++)
        {
            payload[i] ^= mask[i & 3];
        }
        return new Frame(b0 & 0x0f, (b0 & 0x80) != 0, payload);
    }

    /** Writes one unfragmented, unmasked frame and flushes. */
    static void write(final OutputStream out, final int opcode, final byte[] payload, final int offset,
        final int length) throws IOException
    {
        final byte[] header;
        if (length < 126)
        {
            header = new byte[] {(byte) (0x80 | opcode), (byte) length};
        }
        else if (length < 65536)
        {
            header = new byte[] {(byte) (0x80 | opcode), 126, (byte) (length >>> 8), (byte) length};
        }
        else
        {
            header = new byte[10];
            header[0] = (byte) (0x80 | opcode);
            header[1] = 127;
            for (int i = 0; i < 8; i++)
            {
                header[9 - i] = (byte) (((long) length) >>> (8 * i));
            }
        }
        final byte[] frame = new byte[header.length + length];
        System.arraycopy(header, 0, frame, 0, header.length);
        System.arraycopy(payload, offset, frame, header.length, length);
        out.write(frame);
        out.flush();
    }

    /** A close frame's payload: the code and a short reason. */
    static byte[] closePayload(final int code, final String reason)
    {
        final byte[] text = reason.getBytes(StandardCharsets.UTF_8);
        final int textLength = Math.min(text.length, 123);
        final byte[] payload = new byte[2 + textLength];
        payload[0] = (byte) (code >>> 8);
        payload[1] = (byte) code;
        System.arraycopy(text, 0, payload, 2, textLength);
        return payload;
    }

    private static int readByte(final InputStream in) throws IOException
    {
        final int b = in.read();
        if (b < 0)
        {
            throw new EOFException("connection ended mid-frame");
        }
        return b;
    }

    private static byte[] readFully(final InputStream in, final int length) throws IOException
    {
        final byte[] bytes = in.readNBytes(length);
        if (bytes.length != length)
        {
            throw new EOFException("connection ended mid-frame");
        }
        return bytes;
    }
}
