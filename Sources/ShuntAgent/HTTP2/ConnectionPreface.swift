import NIOCore

/// Tells an HTTP/2 connection with prior knowledge (h2c, RFC 9113 §3.3) from HTTP/1.1 by its first
/// octets: the client connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (§3.4) can begin no
/// HTTP/1.1 request, so the first octet that differs from it decides HTTP/1.1.
public enum ConnectionPreface {
    public static let octets: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public enum Decision: Equatable, Sendable {
        /// All 24 octets of the preface arrived.
        case http2
        /// An octet differs from the preface: this is not HTTP/2 with prior knowledge.
        case http1
        /// What arrived so far is a proper prefix of the preface.
        case needMore
    }

    /// The decision for the octets a connection sent so far (all of them, from its first).
    public static func classify(_ bytes: ByteBufferView) -> Decision {
        var index = 0
        for byte in bytes {
            guard index < octets.count else { return .http2 }
            if byte != octets[index] { return .http1 }
            index += 1
        }
        return index == octets.count ? .http2 : .needMore
    }
}
