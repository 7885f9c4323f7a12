import NIOCore
import ShuntHTTP1

/// Follows one HTTP exchange between the agent's request (on a stream) and the developer's local
/// service (on a pooled keep-alive connection), without changing a byte, to say two things: when the
/// final response is complete, and whether the connection may then serve the next stream's request.
/// Pure: fed the octets each way, in order.
///
/// The connection is *reusable* only when it is certain that nothing of this exchange is left on it:
/// the request and the final response were each complete, neither said `Connection: close` (or was
/// HTTP/1.0 without keep-alive), the response was not close-delimited and was not followed by extra
/// octets, and the connection did not switch protocols. Anything this side cannot follow (a head that
/// does not parse, a response before any request) makes it *spent*: the octets still pass, and the
/// connection closes after the exchange, as an unpooled one would.
public struct LocalExchange {
    public let limits: HTTP1Limits
    private var requestParser: RequestHeadParser
    /// What the rest of the exchange needs of the request's head, not the head: a head that arrived
    /// whole is a slice of the buffer it came in (the session's TLS plaintext), and holding it until
    /// the response ends made the next TLS read copy that whole buffer (copy-on-write).
    private var request: RequestFacts?
    private var requestFramer: BodyFramer?
    public private(set) var requestComplete = false
    private var responseParser: ResponseHeadParser
    private var responseFramer: BodyFramer?
    /// The final response is complete; a later octet from the service spends the connection.
    public private(set) var responseComplete = false
    /// The connection became a raw pipe (101, or 2xx to CONNECT): it is never reused.
    public private(set) var switchedProtocols = false
    /// Something this side could not follow: the connection serves this exchange only.
    public private(set) var spent = false
    private var keepAlive = true
    /// An octet of the response arrived: the request is never sent again.
    public private(set) var responseStarted = false

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        requestParser = RequestHeadParser(limits: limits)
        responseParser = ResponseHeadParser(limits: limits)
    }

    /// Whether the connection may serve another request once this exchange is over.
    public var reusable: Bool {
        requestComplete && responseComplete && keepAlive && !spent && !switchedProtocols
    }

    /// Whether the request may be sent again on a new connection after this one ended without a
    /// word (a kept-alive connection the service closed just as the request went out): it was
    /// complete, safe and without a body (RFC 9110 §9.2.1: a request that may have had an effect is
    /// never replayed), and nothing of the answer came.
    public var mayResend: Bool {
        guard requestComplete, !responseStarted, !spent, !switchedProtocols, let request, !request.hasBody else { return false }
        switch request.method {
        case .get, .head, .options, .trace: return true
        default: return false
        }
    }

    /// Octets of the request, on their way to the local service.
    public mutating func requestRead(_ bytes: ByteBuffer) {
        guard !spent, !switchedProtocols else { return }
        var input = bytes
        if requestComplete {
            if input.readableBytes > 0 { spent = true }  // a second request on one stream: not ours to follow
            return
        }
        if request == nil {
            // The parser keeps a head that spans several reads itself; one that arrives whole is
            // sliced from the input, not copied.
            do {
                guard let head = try requestParser.parse(&input) else { return }
                request = RequestFacts(method: head.method, isUpgradeRequest: head.isUpgradeRequest, hasBody: head.framing != .none)
                if !head.keepAlive { keepAlive = false }
                requestFramer = BodyFramer(framing: head.framing, limits: limits)
            } catch {
                spent = true
                return
            }
        }
        // The framers are stepped in place: a copy taken out and put back costs a retain and a release
        // of everything they hold, on every read.
        guard requestFramer != nil else { return }
        do {
            while let event = try requestFramer!.next(&input) {
                if case .end = event {
                    requestComplete = true
                    if input.readableBytes > 0 { spent = true }
                    break
                }
            }
        } catch {
            spent = true
        }
    }

    /// Octets of the response, on their way to the agent. Returns true when they complete the final
    /// response (once).
    public mutating func responseRead(_ bytes: ByteBuffer) -> Bool {
        if bytes.readableBytes > 0 { responseStarted = true }
        guard !switchedProtocols else { return false }
        if responseComplete {
            if bytes.readableBytes > 0 { spent = true }
            return false
        }
        guard !spent, request != nil else {  // read in place below: a copy would retain all it holds
            spent = true
            return false
        }
        var input = bytes
        do {
            while true {
                if responseFramer != nil {
                    guard let event = try responseFramer!.next(&input) else { return false }
                    if case .end = event {
                        responseComplete = true
                        if input.readableBytes > 0 { spent = true }
                        return true
                    }
                    continue
                }
                guard input.readableBytes > 0,
                      let head = try responseParser.parse(&input, requestMethod: request!.method, requestedUpgrade: request!.isUpgradeRequest)
                else { return false }
                switch head.framing {
                case .interim:
                    responseParser = ResponseHeadParser(limits: limits)
                case .switchingProtocols, .tunnel:
                    switchedProtocols = true
                    return false
                case .body(let framing):
                    if !head.keepAlive || framing == .closeDelimited { keepAlive = false }
                    responseFramer = BodyFramer(framing: framing, limits: limits)
                }
            }
        } catch {
            spent = true
            return false
        }
    }
}

/// The request's method, whether it asks for an upgrade, and whether a body follows its head.
private struct RequestFacts {
    let method: HTTPMethod
    let isUpgradeRequest: Bool
    let hasBody: Bool
}
