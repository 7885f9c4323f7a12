import NIOCore
import ShuntSession

/// Next to the socket of an HTTP/2 connection: the flushes asked for during one turn of the event
/// loop leave as one. Each HTTP/2 stream flushes its own frames, and swift-nio-http2 passes each
/// such flush to the socket when it is not inside that connection's own read; with a hundred
/// streams answered in one turn that was a hundred `writev`s. A close sends what is pending first.
///
/// The `maxBatch`-th flush asked for since the last one that left goes at once (as `TickFlushes`
/// does for HTTP/1): under load the peer starts on the first answers while this side still works,
/// instead of the whole turn's output leaving in one convoy at its end.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any

    let maxBatch: Int
    private var scheduled = false
    /// Flushes asked for since the last one that left.
    private var waiting = 0

    init(maxBatch: Int = TickFlushes.defaultMaxBatch) {
        self.maxBatch = maxBatch
    }

    func flush(context: ChannelHandlerContext) {
        waiting += 1
        if waiting >= maxBatch {
            waiting = 0
            context.flush()
            return
        }
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = bound.value
            guard coalescer.scheduled else { return }
            coalescer.scheduled = false
            coalescer.waiting = 0
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled {
            scheduled = false
            waiting = 0
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
