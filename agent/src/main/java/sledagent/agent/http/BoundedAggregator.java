package sledagent.agent.http;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.ReferenceCountUtil;
import sledagent.agent.vmm.ApiError;

/**
 * {@link HttpObjectAggregator} whose refusals (413 for a body over the limit, also when announced with
 * {@code Expect: 100-continue}; 417 for an unknown expectation) carry the spec's {@code Error} body and end
 * the connection with a lingering close: the client, possibly still sending the body, reads the answer
 * instead of a reset.
 */
final class BoundedAggregator extends HttpObjectAggregator
{
    /** This handler's context, for {@link #closeAfterContinueResponse}, which is given none. */
    private ChannelHandlerContext pipelineContext;

    BoundedAggregator(final int maxContentBytes)
    {
        super(maxContentBytes);
    }

    @Override
    protected void handleOversizedMessage(final ChannelHandlerContext ctx, final HttpMessage oversized)
    {
        final FullHttpResponse response = refusal(ctx, HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
            "request body exceeds " + maxContentLength() + " bytes");
        final ConnectionTimeouts timeouts = ConnectionTimeouts.of(ctx);
        if (timeouts == null)
        {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.writeAndFlush(response);
        timeouts.lingerAndClose();
    }

    /** Netty's own refusals of an expectation have no body: answered with the {@code Error} body instead. */
    @Override
    protected Object newContinueResponse(final HttpMessage start, final int maxContentLength,
        final ChannelPipeline pipeline)
    {
        // Read first: the aggregator removes the header once it has decided.
        final String expectation = start.headers().get(HttpHeaderNames.EXPECT);
        final Object response = super.newContinueResponse(start, maxContentLength, pipeline);
        if (!(response instanceof HttpResponse refusal)
            || refusal.status().codeClass() != HttpStatusClass.CLIENT_ERROR)
        {
            return response;
        }
        final HttpResponseStatus status = refusal.status();
        ReferenceCountUtil.release(response);
        final ChannelHandlerContext ctx = pipeline.context(this);
        final String message = status.code() == HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE.code()
            ? "request body exceeds " + maxContentLength + " bytes"
            : "unsupported expectation: " + expectation;
        final FullHttpResponse answer = refusal(ctx, status, message);
        // The aggregator writes the answer after this returns and drops the body; the connection then ends.
        final ConnectionTimeouts timeouts = ConnectionTimeouts.of(ctx);
        if (timeouts != null)
        {
            timeouts.lingerAndClose();
        }
        return answer;
    }

    @Override
    protected boolean closeAfterContinueResponse(final Object msg)
    {
        // A refusal closes through the lingering close; closing at once here could reset the client.
        return ConnectionTimeouts.of(pipelineContext) == null && super.ignoreContentAfterContinueResponse(msg);
    }

    @Override
    public void handlerAdded(final ChannelHandlerContext ctx) throws Exception
    {
        pipelineContext = ctx;
        super.handlerAdded(ctx);
    }

    private static FullHttpResponse refusal(final ChannelHandlerContext ctx, final HttpResponseStatus status,
        final String message)
    {
        final FullHttpResponse response = ApiHandler.encode(ctx,
            new HttpAnswer(status, new ApiError(status.code(), null, message), null));
        HttpUtil.setContentLength(response, response.content().readableBytes());
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        return response;
    }
}
