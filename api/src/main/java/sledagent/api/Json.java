package sledagent.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.IOException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/**
 * The one configured {@link ObjectMapper}: snake_case names, RFC 3339 timestamps, strict scalars.
 * Unknown properties are ignored (serde's default, so newer peers can add fields), but a wrong type is an
 * error: a number is not coerced from a string or a float, a string not from a number or boolean, a timestamp only
 * from an RFC 3339 string, and an unknown enum value fails.
 */
public final class Json
{
    private static final ObjectMapper MAPPER = build();

    private Json()
    {
    }

    /** The shared mapper. Thread-safe; do not reconfigure it. */
    public static ObjectMapper mapper()
    {
        return MAPPER;
    }

    private static ObjectMapper build()
    {
        final JsonMapper mapper = JsonMapper.builder()
            .addModule(new JavaTimeModule())
            .addModule(new SimpleModule("strict-instant")
                .addDeserializer(Instant.class, new StrictInstantDeserializer()))
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .build();
        // Strings are strings: a number where a string belongs (a uuid, an address) is a type error.
        mapper.coercionConfigFor(LogicalType.Textual)
            .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
            .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
            .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        return mapper;
    }

    /**
     * An {@link Instant} only from an RFC 3339 string ({@code "2025-04-01T23:06:55Z"}, offsets and up to 9 fraction
     * digits allowed), as chrono reads it. JavaTimeModule would also take epoch numbers and digit strings.
     */
    private static final class StrictInstantDeserializer extends StdScalarDeserializer<Instant>
    {
        private static final long serialVersionUID = 1L;

        StrictInstantDeserializer()
        {
            super(Instant.class);
        }

        @Override
        public Instant deserialize(final JsonParser p, final DeserializationContext ctxt) throws IOException
        {
            if (!p.hasToken(JsonToken.VALUE_STRING))
            {
                return (Instant) ctxt.handleUnexpectedToken(Instant.class, p);
            }
            final String text = p.getText();
            try
            {
                return OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
            }
            catch (final DateTimeParseException e)
            {
                return (Instant) ctxt.handleWeirdStringValue(Instant.class, text, "not an RFC 3339 date-time");
            }
        }
    }
}
