import NIOCore

/// A parsed response head; `bytes` holds it exactly as received, status-line through the empty line's CRLF.
public struct ResponseHead: Sendable {
    public let bytes: ByteBuffer
    public let version: HTTPVersion
    public let status: Int
    /// Octet range of the reason-phrase in `bytes` (possibly empty).
    public let reasonRange: Range<Int>
    public let headers: HTTPHeaderFields
    /// What follows this head, decided from the status, the request method and the framing fields.
    public let framing: ResponseFraming

    public var reason: ByteBufferView {
        bytes.viewBytes(at: bytes.readerIndex + reasonRange.lowerBound, length: reasonRange.count)!
    }

    /// Whether the server keeps the connection open after this response, as far as the head says.
    public var keepAlive: Bool { ConnectionSemantics.keepAlive(version: version, headers: headers) }
    /// A 101 that switches protocols, confirming the request's Upgrade.
    public var confirmsUpgrade: Bool { framing == .switchingProtocols }

    init(bytes: ByteBuffer, version: HTTPVersion, status: Int, reasonRange: Range<Int>,
         headers: HTTPHeaderFields, framing: ResponseFraming) {
        self.bytes = bytes
        self.version = version
        self.status = status
        self.reasonRange = reasonRange
        self.headers = headers
        self.framing = framing
    }
}
