package sledagent.perf;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import sledagent.api.Json;
import sledagent.api.SledVmmState;
import sledagent.api.VmmRuntimeState;
import sledagent.api.VmmState;

/**
 * The ceiling that {@code LoadTool get-state} compares the agent with: a Netty HTTP/1.1 server that answers every
 * request with the same {@code SledVmmState} JSON, encoded once. It is built like the agent's server (same
 * transport, one event-loop thread, {@code TCP_NODELAY}, {@code HttpServerCodec} + {@code HttpObjectAggregator}(1 MiB),
 * keep-alive honoured, {@code content-type} and {@code content-length} set), so the difference between the two is
 * the agent's own work per request: routing, the table lookup, the JSON encode, the metrics.
 */
public final class BareNettyServer implements AutoCloseable
{
    private static final int MAX_BODY_BYTES = 1 << 20;

    private final EventLoopGroup group;
    private final Channel channel;

    private BareNettyServer(final EventLoopGroup group, final Channel channel)
    {
        this.group = group;
        this.channel = channel;
    }

    /**
     * The body every request gets: byte for byte what the agent answers for a VMM registered with
     * {@code ExampleBodies.ensureBody} (state {@code starting}, gen 1, no migrations), so both servers send the
     * same number of bytes.
     */
    static byte[] constantBody() throws Exception
    {
        final SledVmmState state = new SledVmmState(new VmmRuntimeState(VmmState.STARTING, 1,
            Instant.parse("2026-11-24T00:00:00Z")), null, null);
        return Json.mapper().writerFor(SledVmmState.class).writeValueAsBytes(state);
    }

    /** Binds {@code address} (port 0: any free one) with {@code threads} event-loop threads. */
    public static BareNettyServer start(final InetSocketAddress address, final int threads) throws Exception
    {
        final byte[] body = constantBody();
        final ByteBuf content = Unpooled.unreleasableBuffer(Unpooled.directBuffer(body.length).writeBytes(body));
        final boolean epoll = Epoll.isAvailable();
        final IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        final Class<? extends ServerChannel> type = epoll
            ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        final EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, io);
        try
        {
            final ConstantHandler handler = new ConstantHandler(content);
            final Channel channel = new ServerBootstrap()
                .group(group)
                .channel(type)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>()
                {
                    @Override
                    protected void initChannel(final SocketChannel ch)
                    {
                        ch.pipeline()
                            .addLast("codec", new HttpServerCodec())
                            .addLast("aggregator", new HttpObjectAggregator(MAX_BODY_BYTES))
                            .addLast("constant", handler);
                    }
                })
                .bind(address).sync().channel();
            return new BareNettyServer(group, channel);
        }
        catch (final Exception ex)
        {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw ex;
        }
    }

    public InetSocketAddress address()
    {
        return (InetSocketAddress)channel.localAddress();
    }

    @Override
    public void close()
    {
        channel.close().awaitUninterruptibly(3_000);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3_000);
    }

    /** Answers 200 with the constant body. Stateless, so one instance serves every channel. */
    @ChannelHandler.Sharable
    private static final class ConstantHandler extends SimpleChannelInboundHandler<FullHttpRequest>
    {
        private final ByteBuf content;

        ConstantHandler(final ByteBuf content)
        {
            this.content = content;
        }

        @Override
        protected void channelRead0(final ChannelHandlerContext ctx, final FullHttpRequest request)
        {
            final boolean keepAlive = HttpUtil.isKeepAlive(request);
            final FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                content.duplicate());
            response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
            if (keepAlive)
            {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(response, ctx.voidPromise());
            }
            else
            {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            ctx.close();
        }
    }

    /** Runs one on its own: {@code java -cp perf/target/benchmarks.jar sledagent.perf.BareNettyServer [port]}. */
    public static void main(final String[] args) throws Exception
    {
        final int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        try (BareNettyServer server = start(new InetSocketAddress("127.0.0.1", port), 1))
        {
            System.out.println("bare netty server on " + server.address() + " (Ctrl-C to stop)");
            server.channel.closeFuture().sync();
        }
    }
}
