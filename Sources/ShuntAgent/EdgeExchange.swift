import NIOCore
import ShuntHTTP1

/// One client connection at the edge, as a pure state machine (sans-I/O): fed the client's and the
/// upstream's bytes, it parses each request strictly, asks the owner where to send it, passes the
/// request and the response through verbatim (only the request head is rewritten: hop-by-hop
/// fields, `X-Forwarded-For`, `Forwarded`), and says when the upstream exchange is over and whether
/// the client connection goes on. Requests are served one at a time, in order: bytes of a pipelined
/// request wait until the response before them is complete.
public struct EdgeExchange {
    public enum Action {
        /// A request head arrived (`routingHead`): choose its upstream, then call `upstreamReady()` or
        /// `upstreamFailed`. The head is not carried here: an action is as large as its largest case,
        /// and a head made every action of every list 131 octets, copied in and out.
        case route
        case sendUpstream(ByteBuffer)
        case sendClient(ByteBuffer)
        /// The exchange with the upstream is over. `reusable`: the upstream connection may serve another request.
        case finishUpstream(reusable: Bool)
        /// From now on the connection is a raw pipe between client and upstream (after `101`, or CONNECT).
        case pipe
        /// Close the client connection once what was sent is flushed.
        case closeClient
        /// The upstream was a reused keep-alive connection and it closed before answering a request
        /// that may be sent again (a bodiless GET, HEAD, OPTIONS or TRACE): the server timed the
        /// connection out just as the request took it. Connect a new one (never a reused one) and
        /// call `upstreamReady()` again; the request goes out once more. At most once per request.
        case retryOnNewConnection
    }

    private enum State {
        case head
        case routing
        case exchanging
        case piping
        case closed
    }

    public let limits: HTTP1Limits
    public let client: ForwardedHeadWriter.ClientAddress
    private var state = State.head
    private var requestParser: RequestHeadParser
    private var request: ShuntHTTP1.RequestHead?
    private var requestFramer: BodyFramer?
    private var requestDone = false
    private var responseParser: ResponseHeadParser
    private var responseFramer: BodyFramer?
    private var responseDone = false
    private var responseStarted = false
    private var keepAlive = true
    /// The upstream's connection may serve another request once this exchange is over, whatever the
    /// client's does: the client's `Connection: close` is hop-by-hop and never reaches the upstream,
    /// but an HTTP/1.0 request (which the upstream gets as HTTP/1.0, without keep-alive) and a
    /// response that says close do end it.
    private var upstreamKeepAlive = true
    /// The upstream of the request in progress was a reused keep-alive connection.
    private var upstreamReused = false
    /// The request in progress was already sent again once.
    private var retried = false
    /// Client bytes read and not yet consumed (a pipelined request waits here).
    private var inbound = ByteBuffer()
    /// The buffer the last request head was forwarded in, kept for the next one unless its capacity
    /// is above `maxKeptForwardedHeadCapacity`.
    private var keptForwardedHead: ByteBuffer?
    /// Octets of the next request head have arrived (the parser may hold them).
    private var headStarted = false
    /// The status of the answer the edge gave itself (a malformed request, an unreachable upstream),
    /// once it gave one: the connection then closes.
    public private(set) var answeredStatus: Int?

    /// The largest buffer of a forwarded head an idle connection keeps for its next request: a typical
    /// head fits, and a connection that once sent a large one does not hold its size while idle.
    public static let maxKeptForwardedHeadCapacity = 1024
    /// Room reserved beyond the received head for the fields the edge appends (`X-Forwarded-For`,
    /// `Forwarded` with an IPv6 client) so that they are written without growing the buffer.
    static let forwardedHeadGrowth = 192

    /// The most octets of the client's that were consumed and still lie in front of unread ones (a
    /// pipelined request) before those are moved to the front of the buffer.
    public static let maxConsumedInboundOctets = 16 * 1024

    /// The capacity of the buffer holding the client's unread octets.
    var inboundCapacity: Int { inbound.capacity }
    /// The octets consumed that still lie in front of the unread ones.
    var consumedInboundOctets: Int { inbound.readerIndex }

    /// The capacity of the buffer kept for the next forwarded head (0: none is kept).
    var keptForwardedHeadCapacity: Int { keptForwardedHead?.capacity ?? 0 }

    public init(client: ForwardedHeadWriter.ClientAddress, limits: HTTP1Limits = HTTP1Limits()) {
        self.client = client
        self.limits = limits
        requestParser = RequestHeadParser(limits: limits)
        responseParser = ResponseHeadParser(limits: limits)
    }

    /// The head of the request waiting for its upstream (after `.route`, until `upstreamReady()` or
    /// `upstreamFailed`); nil otherwise.
    public var routingHead: ShuntHTTP1.RequestHead? {
        state == .routing ? request : nil
    }

    /// Whether the owner should read from the client now. While a response is awaited after the whole
    /// request was passed on, reading goes on until `limits.maxHeadSize` octets of what follows (a
    /// pipelined request) wait unparsed: the next request is not parsed before this one is answered,
    /// and an idle client costs no re-arming of its read interest for each request.
    public var wantsClientBytes: Bool {
        switch state {
        case .head, .piping: true
        case .routing: false
        case .exchanging: !requestDone || inbound.readableBytes < limits.maxHeadSize
        case .closed: false
        }
    }

    /// Whether some, possibly all, of a request head has arrived: an idle keep-alive connection has none.
    public var isInsideRequest: Bool { state != .head || headStarted }

    public var isClosed: Bool { state == .closed }

    // MARK: Client side

    public mutating func clientRead(_ bytes: ByteBuffer) -> [Action] {
        var actions: [Action] = []
        clientRead(bytes, into: &actions)
        return actions
    }

    /// `clientRead(_:)`, appending to `actions`: the owner reuses one array for every call, so that a
    /// request costs no allocation of action lists.
    public mutating func clientRead(_ bytes: ByteBuffer, into actions: inout [Action]) {
        guard state != .closed else { return }
        if state == .piping { return actions.append(.sendUpstream(bytes)) }
        var bytes = bytes
        if state == .head && bytes.readableBytes > 0 { headStarted = true }
        // What was consumed is dropped before more is added: without this, a keep-alive connection's
        // buffer would grow by every request it ever sent (the octets read stay below the reader
        // index). Emptied, the buffer starts over in place; with a pipelined request still unread,
        // that request moves to the front once `maxConsumedInboundOctets` lie before it.
        if inbound.readableBytes == 0 {
            inbound.clear()
        } else if inbound.readerIndex > Self.maxConsumedInboundOctets {
            inbound.discardReadBytes()
        }
        inbound.writeBuffer(&bytes)
        process(into: &actions)
    }

    /// The client closed its sending side.
    public mutating func clientEnded() -> [Action] {
        switch state {
        case .closed:
            return []
        case .piping:
            return []  // the owner passes the half-close on
        case .head, .routing:
            state = .closed
            return [.closeClient]
        case .exchanging:
            if requestDone { keepAlive = false; return [] }  // answer, then close
            state = .closed
            return [.finishUpstream(reusable: false), .closeClient]
        }
    }

    // MARK: Upstream side

    /// The upstream for the routed request is connected: the request goes out. `reused`: it is a
    /// keep-alive connection that served an earlier request (it may have been closed by the server
    /// meanwhile; see `retryOnNewConnection`).
    public mutating func upstreamReady(reused: Bool = false) -> [Action] {
        var actions: [Action] = []
        upstreamReady(reused: reused, into: &actions)
        return actions
    }

    public mutating func upstreamReady(reused: Bool = false, into actions: inout [Action]) {
        // One copy of the head for all that follows: each `request!` would be one.
        guard state == .routing, let request else { return }
        state = .exchanging
        upstreamReused = reused
        // The buffer of the last forwarded head is written again when the upstream has let go of it
        // (it has, long since, when the next request comes): no allocation per request.
        let capacity = request.bytes.readableBytes + Self.forwardedHeadGrowth
        var head: ByteBuffer
        if var kept = keptForwardedHead {
            keptForwardedHead = nil
            kept.clear(minimumCapacity: capacity)
            head = kept
        } else {
            head = ByteBufferAllocator().buffer(capacity: capacity)
        }
        ForwardedHeadWriter.write(request, client: client, into: &head)
        if head.capacity <= Self.maxKeptForwardedHeadCapacity { keptForwardedHead = head }
        requestFramer = BodyFramer(framing: request.framing, limits: limits)
        responseParser = ResponseHeadParser(limits: limits)
        responseFramer = nil
        responseDone = false
        responseStarted = false
        requestDone = false
        actions.append(.sendUpstream(head))
        process(into: &actions)
    }

    /// The upstream could not be reached: the client gets `status` with `message`, and the connection
    /// closes (the request's body, if any, was not read).
    public mutating func upstreamFailed(status: Int, message: String) -> [Action] {
        var actions: [Action] = []
        upstreamFailed(status: status, message: message, into: &actions)
        return actions
    }

    public mutating func upstreamFailed(status: Int, message: String, into actions: inout [Action]) {
        guard state == .routing || (state == .exchanging && !responseStarted) else {
            guard state != .closed else { return }
            state = .closed
            actions.append(.finishUpstream(reusable: false))
            actions.append(.closeClient)
            return
        }
        if state == .exchanging && canRetry { return retry(into: &actions) }
        let wasExchanging = state == .exchanging
        state = .closed
        answeredStatus = status
        if wasExchanging { actions.append(.finishUpstream(reusable: false)) }
        actions.append(.sendClient(Self.errorResponse(status: status, message: message)))
        actions.append(.closeClient)
    }

    public mutating func upstreamRead(_ bytes: ByteBuffer) -> [Action] {
        var actions: [Action] = []
        upstreamRead(bytes, into: &actions)
        return actions
    }

    public mutating func upstreamRead(_ bytes: ByteBuffer, into actions: inout [Action]) {
        switch state {
        case .piping:
            return actions.append(.sendClient(bytes))
        case .exchanging:
            break
        default:
            return
        }
        guard request != nil else { return }  // read in place below: a copy would retain all it holds
        var input = bytes
        var run = ForwardRun(bytes)
        while !responseDone {
            let before = input.readerIndex
            // The framers are stepped in place: a copy taken out and put back costs a retain and a
            // release of everything they hold, on every read.
            if responseFramer != nil {
                let event: BodyFramer.Event?
                do {
                    event = try responseFramer!.next(&input)
                } catch {
                    run.emit(into: &actions)
                    return failExchange(upstreamError: "the upstream's response body is malformed: \(error)", into: &actions)
                }
                guard let event else { break }
                if let wire = event.wireBytes {
                    run.add(wire, from: before, to: input.readerIndex, into: &actions)
                } else {
                    run.skip(to: input.readerIndex, into: &actions)
                }
                if case .end = event { responseDone = true }
                continue
            }
            guard input.readableBytes > 0 else { break }
            let head: ResponseHead?
            do {
                head = try responseParser.parse(&input, requestMethod: request!.method, requestedUpgrade: request!.isUpgradeRequest)
            } catch {
                run.emit(into: &actions)
                return failExchange(upstreamError: "the upstream's response head is malformed: \(error)", into: &actions)
            }
            guard let head else { break }
            responseStarted = true
            run.add(head.bytes, from: before, to: input.readerIndex, into: &actions)
            switch head.framing {
            case .interim:
                responseParser = ResponseHeadParser(limits: limits)
            case .switchingProtocols, .tunnel:
                run.emit(into: &actions)
                state = .piping
                actions.append(.pipe)
                if input.readableBytes > 0 { actions.append(.sendClient(input)) }
                if inbound.readableBytes > 0 {
                    actions.append(.sendUpstream(inbound))
                    inbound.clear()
                }
                return
            case .body(let framing):
                if !head.keepAlive {
                    keepAlive = false
                    upstreamKeepAlive = false
                }
                responseFramer = BodyFramer(framing: framing, limits: limits)
            }
        }
        run.emit(into: &actions)
        if responseDone { finishResponse(upstreamReusable: input.readableBytes == 0, into: &actions) }
    }

    /// What one upstream read passes to the client, unchanged and in order: the heads and body pieces
    /// that lie one after the other in the read's own buffer leave as one slice of it, one write to
    /// the client instead of one per piece (a response head and its body, usually). A piece that is
    /// not where the run ends, in the same memory (a head or a chunk line begun in an earlier read and
    /// kept by the parser), ends the run and goes on its own.
    struct ForwardRun {
        let bytes: ByteBuffer
        private(set) var start: Int
        private(set) var end: Int

        init(_ bytes: ByteBuffer) {
            self.bytes = bytes
            start = bytes.readerIndex
            end = start
        }

        /// `piece` is what the step that consumed `before..<after` of the read passes on.
        mutating func add(_ piece: ByteBuffer, from before: Int, to after: Int, into actions: inout [Action]) {
            if before == end, piece.readableBytes == after - before, isInPlace(piece, at: before) {
                end = after
                return
            }
            emit(into: &actions)
            if piece.readableBytes > 0 { actions.append(.sendClient(piece)) }
            start = after
            end = after
        }

        /// A step consumed up to `after` and passed nothing on.
        mutating func skip(to after: Int, into actions: inout [Action]) {
            guard after != end else { return }
            emit(into: &actions)
            start = after
            end = after
        }

        /// The run so far leaves.
        mutating func emit(into actions: inout [Action]) {
            if end > start { actions.append(.sendClient(bytes.getSlice(at: start, length: end - start)!)) }
            start = end
        }

        /// Whether `piece` is the very memory of the read from `index` on (so its octets are those).
        private func isInPlace(_ piece: ByteBuffer, at index: Int) -> Bool {
            guard piece.readableBytes > 0 else { return true }
            return piece.withUnsafeReadableBytes { pieceBytes in
                bytes.withUnsafeReadableBytes { readBytes in
                    pieceBytes.baseAddress == readBytes.baseAddress.map { $0 + (index - bytes.readerIndex) }
                }
            }
        }
    }

    /// The upstream closed its sending side.
    public mutating func upstreamEnded() -> [Action] {
        var actions: [Action] = []
        upstreamEnded(into: &actions)
        return actions
    }

    public mutating func upstreamEnded(into actions: inout [Action]) {
        switch state {
        case .piping, .closed:
            return
        case .head, .routing:
            return
        case .exchanging:
            break
        }
        if responseFramer != nil, !responseDone {
            let event: BodyFramer.Event?
            do { event = try responseFramer!.inputEnded() } catch {
                return failExchange(upstreamError: "the upstream closed inside the response", into: &actions)
            }
            if case .end = event {
                responseDone = true
                keepAlive = false
                return finishResponse(upstreamReusable: false, into: &actions)
            }
        }
        if responseDone { return }
        if canRetry { return retry(into: &actions) }
        failExchange(upstreamError: "the upstream closed before it answered", into: &actions)
    }

    /// The upstream refused the request in progress without processing any of it: a kept-alive
    /// tunnel stream reset with REFUSED_STREAM because the laptop had ended it as the request went
    /// out (spec §10.2). The request goes out again on a new upstream, whatever its method, when the
    /// exchange still has it whole (it has no body) and nothing of an answer came; otherwise the
    /// client gets `status`.
    public mutating func upstreamRefused(status: Int, message: String) -> [Action] {
        var actions: [Action] = []
        upstreamRefused(status: status, message: message, into: &actions)
        return actions
    }

    public mutating func upstreamRefused(status: Int, message: String, into actions: inout [Action]) {
        guard state == .exchanging, upstreamReused, !retried, !responseStarted, requestDone,
              let request, request.framing == .none else {
            return upstreamFailed(status: status, message: message, into: &actions)
        }
        retry(into: &actions)
    }

    /// Whether the request in progress may be sent again on a new connection: its upstream was a
    /// reused connection, nothing of the answer arrived, it was not retried yet, and it is safe and
    /// bodiless (RFC 9110 §9.2.1: a proxy must not replay a request that may have had an effect).
    private var canRetry: Bool {
        guard upstreamReused, !retried, !responseStarted, requestDone, let request, request.framing == .none else { return false }
        switch request.method {
        case .get, .head, .options, .trace: return true
        default: return false
        }
    }

    private mutating func retry(into actions: inout [Action]) {
        retried = true
        upstreamReused = false
        state = .routing
        actions.append(.finishUpstream(reusable: false))
        actions.append(.retryOnNewConnection)
    }

    // MARK: Internals

    private mutating func process(into actions: inout [Action]) {
        while true {
            switch state {
            case .head:
                guard inbound.readableBytes > 0 else { return }
                let head: ShuntHTTP1.RequestHead?
                do {
                    head = try requestParser.parse(&inbound)
                } catch {
                    state = .closed
                    answeredStatus = error.status
                    actions.append(.sendClient(Self.errorResponse(status: error.status, message: "shunt: \(error.description)")))
                    actions.append(.closeClient)
                    return
                }
                guard let head else {
                    inbound.discardReadBytes()
                    return
                }
                request = head
                retried = false
                headStarted = false
                if !head.keepAlive { keepAlive = false }
                upstreamKeepAlive = head.version == .http11
                state = .routing
                return actions.append(.route)
            case .exchanging:
                guard !requestDone, requestFramer != nil else { return }
                let event: BodyFramer.Event?
                do {
                    event = try requestFramer!.next(&inbound)
                } catch {
                    state = .closed
                    answeredStatus = error.status
                    actions.append(.finishUpstream(reusable: false))
                    actions.append(.sendClient(Self.errorResponse(status: error.status, message: "shunt: \(error.description)")))
                    actions.append(.closeClient)
                    return
                }
                guard let event else {
                    inbound.discardReadBytes()
                    return
                }
                if let wire = event.wireBytes { actions.append(.sendUpstream(wire)) }
                if case .end = event {
                    requestDone = true
                    if responseDone { finishResponse(upstreamReusable: true, into: &actions) }
                    return
                }
            case .routing, .piping, .closed:
                return
            }
        }
    }

    private mutating func finishResponse(upstreamReusable: Bool, into actions: inout [Action]) {
        guard requestDone, keepAlive else {
            // Answered before the whole request arrived (an early 413, say): the rest of the request
            // cannot be told from the next one, so the connection ends. So it does without keep-alive.
            // The upstream's may still serve others when the whole request went out, as a client
            // that sends each request with `Connection: close` does: dialling the app per request
            // cost more than the request.
            state = .closed
            actions.append(.finishUpstream(reusable: requestDone && upstreamKeepAlive && upstreamReusable))
            actions.append(.closeClient)
            return
        }
        let reusable = upstreamReusable
        state = .head
        request = nil
        headStarted = inbound.readableBytes > 0
        requestParser = RequestHeadParser(limits: limits)
        actions.append(.finishUpstream(reusable: reusable))
        process(into: &actions)
    }

    private mutating func failExchange(upstreamError: String, into actions: inout [Action]) {
        if responseStarted {
            state = .closed
            actions.append(.finishUpstream(reusable: false))
            actions.append(.closeClient)
            return
        }
        upstreamFailed(status: 502, message: "shunt: \(upstreamError)", into: &actions)
    }

    /// The longest message an error answer carries: a parse error's detail can quote the request.
    public static let maxErrorMessage = 256

    /// A complete response the edge itself gives, closing the connection. The message is cut to
    /// `maxErrorMessage` octets of printable ASCII (anything else becomes `?`): a detail that quotes
    /// the request neither reflects its bytes nor grows with it.
    public static func errorResponse(status: Int, message: String) -> ByteBuffer {
        var printable = String(decoding: message.utf8.prefix(maxErrorMessage).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") },
                               as: UTF8.self)
        if message.utf8.count > maxErrorMessage { printable += "…" }
        let body = printable + "\n"
        var buffer = ByteBuffer()
        buffer.writeString("HTTP/1.1 \(status) \(reason(status))\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n")
        buffer.writeString(body)
        return buffer
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Error"
        }
    }
}
