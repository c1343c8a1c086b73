package sledagent.agent.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import sledagent.agent.vmm.ApiError;
import sledagent.api.ErrorBody;
import sledagent.api.Json;

/**
 * Parses, routes, answers. One per channel. Answers that are ready at once (state reads, register, bad input)
 * are written directly; answers that come from a VMM's actor are written when its future completes, with reads
 * paused meanwhile so that responses stay in request order on the connection.
 */
final class ApiHandler extends SimpleChannelInboundHandler<FullHttpRequest>
{
    private static final Logger LOG = Logger.getLogger(ApiHandler.class.getName());
    private static final AtomicLong REQUEST_IDS = new AtomicLong();
    /** A codec's reason quoted in a 400 is cut here: it may echo the client's bytes. */
    private static final int MAX_REASON_CHARS = 160;
    private static final String REQUEST_ID_PREFIX = Long.toHexString(System.nanoTime() & 0xffffffL) + "-";

    private final VmmEndpoints endpoints;
    private final AtomicInteger inFlight;
    /** The request being answered (one at a time per connection: reads pause while an answer is pending). */
    private String routeName = "unknown";
    private long startNs;
    /** This connection's timeouts (null in a pipeline without them). */
    private ConnectionTimeouts timeouts;

    /** {@code inFlight} counts requests answered later (so that a shutdown can let them finish). */
    ApiHandler(final VmmEndpoints endpoints, final AtomicInteger inFlight)
    {
        this.endpoints = endpoints;
        this.inFlight = inFlight;
    }

    @Override
    public void handlerAdded(final ChannelHandlerContext ctx)
    {
        timeouts = ConnectionTimeouts.of(ctx);
    }

    @Override
    protected void channelRead0(final ChannelHandlerContext ctx, final FullHttpRequest request)
    {
        if (timeouts != null)
        {
            if (timeouts.closing())
            {
                // A request pipelined behind an answer that ended the connection: never answered.
                return;
            }
            timeouts.requestReceived();
        }
        startNs = System.nanoTime();
        routeName = "unknown";
        final boolean reserve = Boolean.TRUE.equals(ctx.channel().attr(ConnectionLimiter.RESERVE).get());
        // A connection in the reserve serves one request only, so that the reserve empties again.
        final boolean keepAlive = HttpUtil.isKeepAlive(request) && !reserve;
        if (!request.decoderResult().isSuccess())
        {
            write(ctx, decoderFailure(request.decoderResult().cause()), false);
            return;
        }
        if (!supported(request.protocolVersion()))
        {
            LOG.fine(() -> "refused HTTP version " + request.protocolVersion());
            write(ctx, HttpAnswer.error(new ApiError(505, null, "HTTP version not supported: "
                + request.protocolVersion() + " (HTTP/1.1 and HTTP/1.0 are)")), false);
            return;
        }
        final String path;
        try
        {
            path = new QueryStringDecoder(request.uri()).path();
        }
        catch (final IllegalArgumentException ex)
        {
            write(ctx, HttpAnswer.error(ApiError.badRequest("bad URI: " + ex.getMessage())), keepAlive);
            return;
        }
        final Route.Match match = Route.match(request.method(), path);
        final Route found = match instanceof Route.Found hit ? hit.route() : null;
        // As Dropshot: the version is checked before routing, except on the agent's own probes (scrapers and
        // health checks send no api-version).
        if (found != Route.HEALTH && found != Route.METRICS)
        {
            final String problem = ApiVersionCheck.problem(request.headers().get(ApiVersionCheck.HEADER));
            if (problem != null)
            {
                write(ctx, HttpAnswer.error(ApiError.badRequest(problem)), keepAlive);
                return;
            }
        }
        if (reserve && found != Route.HEALTH && found != Route.VMM_FORCE_TERMINATE)
        {
            endpoints.metrics().connectionRefused(sledagent.agent.metrics.Metrics.CONNECTION_RESERVE);
            write(ctx, HttpAnswer.error(ApiError.unavailable("too many connections: beyond the limit only GET "
                + "/health and POST /vmms/{id}/force-terminate are answered")), false);
            return;
        }
        // Every kind of match, then a loud failure: a new kind must get its answer here, not fall through.
        if (match instanceof Route.Found hit)
        {
            dispatch(ctx, hit, request, keepAlive);
        }
        else if (match instanceof Route.NotFound)
        {
            write(ctx, HttpAnswer.error(new ApiError(404, null, "Not Found")), keepAlive);
        }
        else if (match instanceof Route.MethodNotAllowed notAllowed)
        {
            final String allow = notAllowed.allowed().stream().map(Object::toString)
                .collect(Collectors.joining(", "));
            write(ctx, new HttpAnswer(HttpResponseStatus.METHOD_NOT_ALLOWED,
                new ApiError(405, null, "Method Not Allowed"), allow), keepAlive);
        }
        else if (match instanceof Route.BadId badId)
        {
            write(ctx, HttpAnswer.error(ApiError.badRequest("propolis_id is not a UUID: " + badId.raw())),
                keepAlive);
        }
        else
        {
            throw unhandled(match);
        }
    }

    /**
     * A value of a sealed type that a dispatch does not handle (a kind added without its branch): a bug, logged
     * loudly with its stack trace; the caller throws what this returns.
     */
    static IllegalStateException unhandled(final Object value)
    {
        final IllegalStateException bug = new IllegalStateException("no branch for "
            + value.getClass().getName() + ": " + value);
        LOG.log(Level.SEVERE, bug.getMessage(), bug);
        return bug;
    }

    private static boolean supported(final HttpVersion version)
    {
        return "HTTP".equals(version.protocolName()) && version.majorVersion() == 1
            && (version.minorVersion() == 1 || version.minorVersion() == 0);
    }

    /** What the codec could not parse: 414, 431 or 400, with the codec's reason (one line, bounded). */
    private static HttpAnswer decoderFailure(final Throwable cause)
    {
        LOG.fine(() -> "malformed request: " + cause);
        if (cause instanceof TooLongHttpLineException)
        {
            return HttpAnswer.error(new ApiError(414, null, "request line too long"));
        }
        if (cause instanceof TooLongHttpHeaderException)
        {
            return HttpAnswer.error(new ApiError(431, null, "request headers too large"));
        }
        String reason = cause == null || cause.getMessage() == null ? String.valueOf(cause) : cause.getMessage();
        reason = reason.lines().findFirst().orElse("");
        if (reason.length() > MAX_REASON_CHARS)
        {
            reason = reason.substring(0, MAX_REASON_CHARS) + "...";
        }
        return HttpAnswer.error(ApiError.badRequest("malformed HTTP request: " + reason));
    }

    private void dispatch(final ChannelHandlerContext ctx, final Route.Found found, final FullHttpRequest request,
        final boolean keepAlive)
    {
        routeName = found.route().metricName();
        try (InputStream body = new ByteBufInputStream(request.content()))
        {
            switch (found.route())
            {
                case VMM_GET_STATE -> write(ctx, endpoints.getState(found.propolisId()), keepAlive);
                case VMM_REGISTER -> writeLater(ctx, endpoints.register(found.propolisId(), body), keepAlive);
                case VMM_PUT_STATE -> writeLater(ctx, endpoints.putState(found.propolisId(), body), keepAlive);
                case VMM_UNREGISTER -> writeLater(ctx, endpoints.unregister(found.propolisId()), keepAlive);
                case VMM_FORCE_TERMINATE -> writeLater(ctx, endpoints.forceTerminate(found.propolisId()), keepAlive);
                case VMM_LIST -> write(ctx, endpoints.list(), keepAlive);
                case HEALTH -> write(ctx, HttpAnswer.ok(new Health("ok", endpoints.vmm())), keepAlive);
                case METRICS -> write(ctx, endpoints.metricsText(), keepAlive);
            }
        }
        catch (final VmmEndpoints.BadRequestException ex)
        {
            write(ctx, HttpAnswer.error(ApiError.badRequest(ex.getMessage())), keepAlive);
        }
        catch (final IOException | RuntimeException ex)
        {
            LOG.log(Level.WARNING, "request " + request.method() + " " + request.uri() + " failed", ex);
            write(ctx, HttpAnswer.error(ApiError.internal("internal error: " + ex)), keepAlive);
        }
    }

    private void writeLater(final ChannelHandlerContext ctx, final CompletableFuture<HttpAnswer> answer,
        final boolean keepAlive)
    {
        if (answer.isDone())
        {
            write(ctx, answer.join(), keepAlive);
            return;
        }
        ctx.channel().config().setAutoRead(false);
        inFlight.incrementAndGet();
        answer.whenComplete((value, error) -> ctx.executor().execute(() ->
        {
            inFlight.decrementAndGet();
            final HttpAnswer toWrite = error == null
                ? value
                : HttpAnswer.error(ApiError.internal("internal error: " + error));
            write(ctx, toWrite, keepAlive);
            ctx.channel().config().setAutoRead(true);
        }));
    }

    private void write(final ChannelHandlerContext ctx, final HttpAnswer answer, final boolean keepAlive)
    {
        endpoints.metrics().request(routeName, answer.status().code(), System.nanoTime() - startNs);
        final FullHttpResponse response = encode(ctx, answer);
        if (answer.allow() != null)
        {
            response.headers().set(HttpHeaderNames.ALLOW, answer.allow());
        }
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (keepAlive)
        {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(response, ctx.voidPromise());
            if (timeouts != null)
            {
                timeouts.answered();
            }
        }
        else
        {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            if (timeouts == null)
            {
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            // The client may still be sending (a request the codec gave up on): a lingering close lets it
            // read this answer instead of a reset.
            ctx.writeAndFlush(response, ctx.voidPromise());
            timeouts.lingerAndClose();
        }
    }

    /** Encodes the answer; an {@link ApiError} becomes the spec's {@code Error} body with a request id. */
    static FullHttpResponse encode(final ChannelHandlerContext ctx, final HttpAnswer answer)
    {
        Object body = answer.body();
        if (body instanceof VmmEndpoints.PlainText text)
        {
            final FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, answer.status(),
                io.netty.buffer.Unpooled.copiedBuffer(text.text(), java.nio.charset.StandardCharsets.UTF_8));
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, text.contentType());
            return response;
        }
        if (body instanceof ApiError error)
        {
            body = new ErrorBody(REQUEST_ID_PREFIX + REQUEST_IDS.incrementAndGet(), error.message(),
                error.errorCode());
        }
        final ByteBuf content = ctx.alloc().buffer(256);
        if (body != null)
        {
            try (ByteBufOutputStream out = new ByteBufOutputStream(content))
            {
                Json.mapper().writeValue((java.io.OutputStream)out, body);
            }
            catch (final IOException ex)
            {
                content.release();
                throw new IllegalStateException("cannot encode " + body.getClass().getSimpleName(), ex);
            }
        }
        final FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, answer.status(), content);
        if (body != null)
        {
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        }
        return response;
    }

    @Override
    public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
    {
        // Bad input never gets here (the codec reports it in the request's decoder result); this is the
        // connection itself failing (reset by the peer): one line, no stack trace.
        LOG.fine(() -> "connection " + ctx.channel().remoteAddress() + " failed: " + cause);
        ctx.close();
    }

    /** The body of {@code GET /health}: {@code vmm} says which VMM the agent runs (e.g. {@code qemu (...)}). */
    record Health(String status, String vmm)
    {
    }
}
