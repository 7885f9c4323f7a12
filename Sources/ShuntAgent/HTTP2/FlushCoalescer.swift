import NIOCore

/// Next to the socket of an HTTP/2 connection: the flushes asked for during one turn of the event
/// loop leave as one. Each HTTP/2 stream flushes its own frames, and swift-nio-http2 passes each
/// such flush to the socket when it is not inside that connection's own read; with a hundred
/// streams answered in one turn that was a hundred `writev`s. A close sends what is pending first.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any

    private var scheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = bound.value
            guard coalescer.scheduled else { return }
            coalescer.scheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled {
            scheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
