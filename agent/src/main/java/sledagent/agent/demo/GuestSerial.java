package sledagent.agent.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import sledagent.api.Json;

/**
 * A guest's serial console as its Propolis server keeps it: {@code GET /instance/serial/history} at the VMM's
 * {@code propolis_addr} (Propolis API v5, as propolis-qemu and the real server answer it).
 */
public final class GuestSerial
{
    /** The most bytes asked for at once. */
    public static final int MAX_BYTES = 1 << 20;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final String propolisAddr;

    /** The console of the VMM serving at {@code propolisAddr} ({@code HOST:PORT}). */
    public GuestSerial(final String propolisAddr)
    {
        this.propolisAddr = propolisAddr;
    }

    /**
     * The bytes from absolute offset {@code fromByte} on (at most {@link #MAX_BYTES}), as text.
     *
     * @param text           the bytes, decoded as UTF-8
     * @param lastByteOffset the offset just past the last byte the guest wrote so far
     */
    public record Chunk(String text, long lastByteOffset)
    {
    }

    /** Reads from {@code fromByte}; an IOException when the server does not answer 200 within 5 s. */
    public Chunk read(final long fromByte) throws IOException, InterruptedException
    {
        final HttpResponse<String> answer = http.send(HttpRequest.newBuilder(URI.create("http://" + propolisAddr
                + "/instance/serial/history?from_start=" + fromByte + "&max_bytes=" + MAX_BYTES))
            .timeout(Duration.ofSeconds(5)).header("api-version", "5.0.0").GET().build(),
            HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() != 200)
        {
            throw new IOException("serial history: " + answer.statusCode() + " " + answer.body());
        }
        final JsonNode body = Json.mapper().readTree(answer.body());
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        body.path("data").forEach(b -> bytes.write(b.asInt()));
        return new Chunk(bytes.toString(StandardCharsets.UTF_8), body.path("last_byte_offset").asLong());
    }

    /** The whole history kept so far, as text; empty when the server does not answer. */
    public String all()
    {
        try
        {
            return read(0).text();
        }
        catch (final IOException ex)
        {
            return "";
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    /** How often {@code needle} occurs in the history kept so far. */
    public int count(final String needle)
    {
        return all().split(java.util.regex.Pattern.quote(needle), -1).length - 1;
    }
}
