import NIOCore

/// Joins two channels on the same event loop into one pipe: what one reads the other writes, with
/// backpressure (a side stops reading while its partner is not writable) and half-closure (EOF on one
/// side becomes `close(mode: .output)` on the other). Used to splice a stream to a TCP socket.
public final class GlueHandler: ChannelDuplexHandler {
    public typealias InboundIn = NIOAny
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Set once the partner's EOF was passed on: completes when this side's output is closed.
    private var outputClosing: EventLoopFuture<Void>?
    /// This side failed (an error, a reset): its partner is aborted rather than finished.
    private var failed = false

    private init() {}

    /// Two handlers, one for each channel.
    public static func matchedPair() -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerWriteEOF() {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        outputClosing = promise.futureResult
        context.close(mode: .output, promise: promise)
    }

    /// The partner is gone. If it ended cleanly, its EOF is passed on (once) and what is still queued
    /// here is written before this side closes; after an error this side is aborted too.
    private func partnerClosed(cleanly: Bool) {
        guard let context else { return }
        guard cleanly else {
            context.close(promise: nil)
            return
        }
        if outputClosing == nil { partnerWriteEOF() }
        outputClosing?.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // A socket whose output was shut closes fully at EOF without an `inputClosed` event first.
        partner?.partnerClosed(cleanly: !failed)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        failed = true
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
    }

    public func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
