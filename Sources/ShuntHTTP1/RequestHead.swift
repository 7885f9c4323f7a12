import NIOCore

/// A parsed request head. `bytes` holds the head exactly as received (request-line through the empty
/// line's CRLF, without skipped leading empty lines); everything else points into it.
public struct RequestHead: Sendable {
    public let bytes: ByteBuffer
    public let method: HTTPMethod
    public let version: HTTPVersion
    public let targetForm: RequestTargetForm
    /// Octet range of the request-target in `bytes`.
    public let targetRange: Range<Int>
    /// Octet range of the path in `bytes`: the target up to `?` (`#` is refused in a target). For
    /// absolute-form, the part after the authority (empty for `http://host`); empty for CONNECT and `*`.
    public let pathRange: Range<Int>
    public let headers: HTTPHeaderFields
    /// How the body that follows is delimited: none, Content-Length or chunked.
    public let framing: BodyFraming

    public var target: ByteBufferView { view(targetRange) }
    public var path: ByteBufferView { view(pathRange) }
    /// The request-line as received, without its CRLF.
    public var requestLine: ByteBufferView { view(0..<(bytes.readableBytesView.firstIndex(of: HTTPSyntax.cr)! - bytes.readerIndex)) }

    /// Whether the connection stays open after this exchange, as far as the request says (RFC 9112 §9.3).
    /// Read from the fields once, when the head is parsed: the edge asks it of every request.
    public let keepAlive: Bool
    /// `Expect: 100-continue` in an HTTP/1.1 request (RFC 9110 §10.1.1 says to ignore it in HTTP/1.0).
    public var expectsContinue: Bool { ConnectionSemantics.expectsContinue(version: version, headers: headers) }
    /// The request asks to switch protocols: `Upgrade` plus `Connection: upgrade`, HTTP/1.1 only.
    /// Read from the fields once, when the head is parsed: the edge and the laptop ask it of every
    /// request, and again for each response head.
    public let isUpgradeRequest: Bool

    init(bytes: ByteBuffer, method: HTTPMethod, version: HTTPVersion, targetForm: RequestTargetForm,
         targetRange: Range<Int>, pathRange: Range<Int>, headers: HTTPHeaderFields, framing: BodyFraming) {
        self.bytes = bytes
        self.method = method
        self.version = version
        self.targetForm = targetForm
        self.targetRange = targetRange
        self.pathRange = pathRange
        self.headers = headers
        self.framing = framing
        keepAlive = ConnectionSemantics.keepAlive(version: version, headers: headers)
        isUpgradeRequest = ConnectionSemantics.isUpgradeRequest(version: version, headers: headers)
    }

    private func view(_ range: Range<Int>) -> ByteBufferView {
        bytes.viewBytes(at: bytes.readerIndex + range.lowerBound, length: range.count)!
    }
}
