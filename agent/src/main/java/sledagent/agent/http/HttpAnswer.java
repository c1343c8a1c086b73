package sledagent.agent.http;

import io.netty.handler.codec.http.HttpResponseStatus;
import sledagent.agent.vmm.ApiError;

/** A status and a body to encode as JSON (null: no body). */
record HttpAnswer(HttpResponseStatus status, Object body, String allow)
{
    static HttpAnswer ok(final Object body)
    {
        return new HttpAnswer(HttpResponseStatus.OK, body, null);
    }

    /** An error; the request id is filled in when the answer is written. */
    static HttpAnswer error(final ApiError error)
    {
        return new HttpAnswer(HttpResponseStatus.valueOf(error.status()), error, null);
    }
}
