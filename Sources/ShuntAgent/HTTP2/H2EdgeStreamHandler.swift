import NIOCore
import NIOHPACK
import NIOHTTP2
import ShuntSession

/// One caller stream of an HTTP/2 connection at the edge: routes it by its request header block
/// (the same rules as HTTP/1.1: `:path` for paths, regular fields for headers), opens a stream on
/// the chosen upstream (the app, or a laptop, failing open to the app when the laptop cannot take
/// it), then relays HEADERS and DATA both ways as they come — trailers included — reading each side
/// only while the other can take more, so HTTP/2 flow control reaches end to end.
///
/// Ends: a RST_STREAM from either side is passed to the other with its code (a cancelled call, a
/// deadline); an upstream that goes away before its response ended gets the caller an answer that
/// says so (`H2Failure`: gRPC UNAVAILABLE, or 502); a caller that goes away resets the upstream
/// stream (CANCEL).
final class H2EdgeStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case awaitingHead
        case connecting
        case relaying
        case finished
    }

    private let connection: H2EdgeConnection
    private var context: ChannelHandlerContext?
    private var state = State.awaitingHead
    /// What the caller sent while the upstream stream was being opened (one read's worth at most:
    /// no read is asked for meanwhile, and the stream window bounds it).
    private var buffered: [HTTP2Frame.FramePayload] = []
    private var upstream: Channel?
    private var upstreamHandler: H2UpstreamStreamHandler?
    private var laptop: Route.Laptop?
    private var isGRPC = false
    private var responseStarted = false
    private var responseEnded = false
    private var requestEnded = false
    private var pendingRead = false
    private var upstreamNeedsFlush = false
    private var callerNeedsFlush = false

    init(connection: H2EdgeConnection) {
        self.connection = connection
    }

    var callerWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The stream's pipeline is torn down: the context goes (it and the handler would keep each
    /// other alive).
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: The caller's side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        switch state {
        case .awaitingHead:
            guard case .headers(let head) = payload else {
                context.writeAndFlush(wrapOutboundOut(.rstStream(.protocolError)), promise: nil)
                state = .finished
                return
            }
            requestEnded = head.endStream
            isGRPC = H2ForwardedHeaders.isGRPC(head.headers)
            let headers = H2ForwardedHeaders.forwarded(head.headers, client: connection.client)
            buffered.append(.headers(.init(headers: headers, endStream: head.endStream)))
            state = .connecting
            route(H2RoutableRequest(headers: head.headers))
        case .connecting:
            guard let forwarded = Self.relayed(payload) else { return }
            if forwarded.endsStream { requestEnded = true }
            buffered.append(forwarded.payload)
        case .relaying:
            guard let forwarded = Self.relayed(payload), let upstream else { return }
            if forwarded.endsStream { requestEnded = true }
            upstream.write(forwarded.payload, promise: nil)
            upstreamNeedsFlush = true
        case .finished:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead, .finished:
            context.read()
        case .connecting:
            pendingRead = true
        case .relaying:
            if upstream?.isWritable ?? true {
                context.read()
            } else {
                pendingRead = true
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A RST_STREAM from the caller (a cancelled call, a deadline): the upstream gets its code.
        if let closed = error as? NIOHTTP2Errors.StreamClosed {
            resetUpstream(code: closed.errorCode)
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !(responseEnded && requestEnded) {
            resetUpstream(code: .cancel)
        }
        detachUpstream()
        state = .finished
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstreamHandler?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Routing

    private func route(_ request: H2RoutableRequest) {
        let shared = connection.shared
        switch shared.registry.route(request, port: shared.port) {
        case .app:
            shared.metrics.routedToApp.increment()
            open(.app)
        case .laptop(let laptop):
            self.laptop = laptop
            open(.laptop(laptop))
        }
    }

    private func open(_ route: Route) {
        let handler = H2UpstreamStreamHandler(edge: self)
        connection.openStream(route, handler: handler).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let stream):
                if case .laptop(let laptop) = route {
                    self.connection.shared.failOpen.succeeded(intercept: laptop.intercept, owner: laptop.owner)
                }
                self.attach(stream, handler: handler)
            case .failure(let error):
                handler.edge = nil
                guard self.state == .connecting else { return }
                if case .laptop(let laptop) = route {
                    // Fail open: a laptop that cannot take the stream leaves it to the app.
                    self.connection.shared.failedOpen(laptop, error: error)
                    self.laptop = nil
                    self.open(.app)
                } else {
                    self.answerFailure("shunt: the app at \(self.connection.shared.pool.address) is unreachable over HTTP/2: \(error)")
                }
            }
        }
    }

    private func attach(_ stream: Channel, handler: H2UpstreamStreamHandler) {
        guard state == .connecting, context != nil else {
            handler.edge = nil
            stream.close(promise: nil)
            return
        }
        upstream = stream
        upstreamHandler = handler
        state = .relaying
        for payload in buffered {
            stream.write(payload, promise: nil)
        }
        buffered = []
        stream.flush()
        readIfPending()
    }

    // MARK: The upstream's side (called by H2UpstreamStreamHandler)

    func upstreamRead(_ payload: HTTP2Frame.FramePayload) {
        guard state == .relaying, let context, let forwarded = Self.relayed(payload) else { return }
        if case .headers(let headers) = forwarded.payload, !responseStarted {
            // 1xx responses are informational; the final status starts the response.
            let status = headers.headers.first(name: ":status") ?? ""
            if !status.hasPrefix("1") { responseStarted = true }
        }
        if forwarded.endsStream { responseEnded = true }
        context.write(wrapOutboundOut(forwarded.payload), promise: nil)
        callerNeedsFlush = true
    }

    func upstreamReadComplete() {
        flush()
    }

    /// The upstream reset its stream: the caller gets the same code.
    func upstreamReset(code: HTTP2ErrorCode) {
        guard state == .relaying, let context else { return }
        if !(responseEnded && requestEnded) {
            context.writeAndFlush(wrapOutboundOut(.rstStream(code)), promise: nil)
        }
        responseEnded = true
        detachUpstream()
        state = .finished
    }

    /// The upstream stream ended; unless its response was complete, the caller hears why.
    func upstreamClosed() {
        guard state == .relaying else { return }
        detachUpstream()
        if !responseEnded {
            let target = laptop.map { "intercept \($0.intercept): \($0.owner)'s laptop" } ?? "the app at \(connection.shared.pool.address)"
            if let laptop, let reason = connection.failureReason(laptop) {
                answerFailure("shunt: \(target) could not serve the call: \(reason)")
            } else {
                answerFailure("shunt: \(target) went away before the response ended")
            }
        } else if !requestEnded, let context {
            // The response is complete; the rest of the request is not wanted (RFC 9113 §8.1).
            context.writeAndFlush(wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
        state = .finished
    }

    func upstreamWritabilityChanged() {
        if upstream?.isWritable ?? false { readIfPending() }
    }

    // MARK: Helpers

    private func answerFailure(_ message: String) {
        guard let context else { return }
        state = .finished
        let status = responseStarted ? nil : (isGRPC ? 200 : 502)
        connection.shared.metrics.edgeAnswered(status: status ?? 502)
        for payload in H2Failure.answer(grpc: isGRPC, responseStarted: responseStarted, message: message) {
            context.write(wrapOutboundOut(payload), promise: nil)
        }
        context.flush()
        responseEnded = true
    }

    private func resetUpstream(code: HTTP2ErrorCode) {
        guard let upstream else { return }
        detachUpstream()
        upstream.writeAndFlush(HTTP2Frame.FramePayload.rstStream(code), promise: nil)
        upstream.close(promise: nil)
    }

    private func detachUpstream() {
        upstreamHandler?.edge = nil
        upstreamHandler = nil
        upstream = nil
    }

    private func flush() {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
        if callerNeedsFlush {
            callerNeedsFlush = false
            context?.flush()
        }
    }

    private func readIfPending() {
        guard pendingRead, let context else { return }
        pendingRead = false
        read(context: context)
    }

    /// HEADERS (trailers too) and DATA pass, as a new payload without padding or priority; the
    /// rest of what a stream sees (WINDOW_UPDATE, PRIORITY) belongs to its own hop.
    static func relayed(_ payload: HTTP2Frame.FramePayload) -> (payload: HTTP2Frame.FramePayload, endsStream: Bool)? {
        switch payload {
        case .headers(let headers):
            return (.headers(.init(headers: headers.headers, endStream: headers.endStream)), headers.endStream)
        case .data(let data):
            return (.data(.init(data: data.data, endStream: data.endStream)), data.endStream)
        default:
            return nil
        }
    }
}

/// The edge's end of an upstream HTTP/2 stream (to the app or through a laptop's tunnel stream):
/// reports what arrives to the caller's `H2EdgeStreamHandler`, and reads only while the caller can
/// take more.
final class H2UpstreamStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    var edge: H2EdgeStreamHandler?
    /// Strong, cleared in `handlerRemoved`: a weak reference gives the context a side table, and
    /// every retain and release of it, on every event through the pipeline, takes the slow path.
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    init(edge: H2EdgeStreamHandler) {
        self.edge = edge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The stream's pipeline is torn down: the context goes (it and the handler would keep each
    /// other alive).
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        edge?.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        edge?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let closed = error as? NIOHTTP2Errors.StreamClosed {
            edge?.upstreamReset(code: closed.errorCode)
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        edge?.upstreamClosed()
        edge = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        edge?.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if edge?.callerWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// The caller drained: a read held back goes out.
    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
