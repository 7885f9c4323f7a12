import NIOCore

/// The first handler of every edge connection: tells HTTP/2 with prior knowledge from HTTP/1.1 by
/// the connection preface (`ConnectionPreface`), installs what serves it (`H2EdgeConnection`, or
/// `EdgeHandler`), hands over the octets read so far, and leaves the pipeline. A port with a global
/// intercept skips the question: the connection is a raw pipe, whatever it speaks.
///
/// It holds at most the 23 octets of an unfinished preface, and its clock is the edge's: the idle
/// timeout until the first octet, the header-read timeout after it; either ends the connection.
final class EdgeProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let shared: EdgeHandler.Shared
    private let client: SocketAddress?
    private var received: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var decided = false

    init(shared: EdgeHandler.Shared, client: SocketAddress?) {
        self.shared = shared
        self.client = client
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard timer == nil, !decided else { return }
        if shared.registry.hasGlobalIntercept(port: shared.port) {
            handOver(.http1, context: context)
            return
        }
        arm(shared.configuration.idleTimeout, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        var bytes = unwrapInboundIn(data)
        if received == nil {
            arm(shared.configuration.headerReadTimeout, context: context)
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        switch ConnectionPreface.classify(received!.readableBytesView) {
        case .needMore: break
        case .http1: handOver(.http1, context: context)
        case .http2: handOver(.http2, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is EdgeDrain, !decided {
            // No request has begun: nothing to finish.
            timer?.cancel()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    private enum Spoken { case http1, http2 }

    private func handOver(_ chosen: Spoken, context: ChannelHandlerContext) {
        decided = true
        timer?.cancel()
        timer = nil
        let channel = context.channel
        do {
            switch chosen {
            case .http1:
                try channel.pipeline.syncOperations.addHandler(EdgeHandler(shared: shared, client: client))
            case .http2:
                let (address, text) = EdgeHandler.describe(client)
                try H2EdgeConnection.configure(channel, shared: shared, client: address, clientText: text)
            }
        } catch {
            context.close(promise: nil)
            return
        }
        if let received {
            self.received = nil
            context.fireChannelRead(wrapInboundOut(received))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { bound.value.close(promise: nil) }
    }
}
