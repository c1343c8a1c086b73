package sledagent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Objects;

/** The {@code Error} body of all three specs: {@code {request_id, message, error_code?}}. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ErrorBody(String requestId, String message, String errorCode)
{
    public ErrorBody
    {
        Objects.requireNonNull(requestId, "request_id");
        Objects.requireNonNull(message, "message");
    }
}
