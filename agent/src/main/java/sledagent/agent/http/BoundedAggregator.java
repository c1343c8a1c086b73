package sledagent.agent.http;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import sledagent.agent.vmm.ApiError;

/** {@link HttpObjectAggregator} whose 413 carries the spec's {@code Error} body. */
final class BoundedAggregator extends HttpObjectAggregator
{
    BoundedAggregator(final int maxContentBytes)
    {
        super(maxContentBytes);
    }

    @Override
    protected void handleOversizedMessage(final ChannelHandlerContext ctx, final HttpMessage oversized)
    {
        final FullHttpResponse response = ApiHandler.encode(ctx, new HttpAnswer(
            HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
            new ApiError(413, null, "request body exceeds " + maxContentLength() + " bytes"), null));
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (oversized instanceof FullHttpMessage || !HttpUtil.isKeepAlive(oversized))
        {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        // Keep the connection: the aggregator discards the rest of this body, so the client (still sending
        // it) is not reset before it reads the 413.
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
    }
}
