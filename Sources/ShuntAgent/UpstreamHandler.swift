import NIOCore

/// The edge's end of an upstream: a connection to the app, or a tunnel stream to a laptop. Reports
/// what arrives to the `EdgeHandler` it serves, and reads only while that client can take more.
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Nil while the connection idles in the pool.
    var edge: EdgeHandler?
    private var pendingRead = false
    /// Strong, cleared in `handlerRemoved`: a weak reference gives the context a side table, and
    /// every retain and release of it, on every read, write and flush through this pipeline, takes
    /// the runtime's slow path (measured: 2% of the agent's samples).
    private var context: ChannelHandlerContext?

    init(edge: EdgeHandler?) {
        self.edge = edge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The pipeline is torn down: the context goes, or the two would keep each other alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let edge else {
            context.close(promise: nil)  // an idle app connection must not talk
            return
        }
        edge.upstreamRead(unwrapInboundIn(data), from: context.channel)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        edge?.flushClient()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            edge?.upstreamEnded(context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        edge?.upstreamFailed(context.channel, error: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        edge?.upstreamEnded(context.channel)
        edge = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        edge?.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if edge?.clientWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// Writes `bytes` from this handler, the last of its pipeline, toward the connection: the
    /// channel's own `write` would enter the pipeline at its tail and pass through this handler.
    /// False once the handler has left the pipeline.
    func write(_ bytes: ByteBuffer) -> Bool {
        guard let context else { return false }
        context.write(wrapOutboundOut(bytes), promise: nil)
        return true
    }

    /// Flushes from this handler, as `write(_:)` writes. False once the handler has left the pipeline.
    func flush() -> Bool {
        guard let context else { return false }
        context.flush()
        return true
    }

    /// The client drained: a read held back goes out.
    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
