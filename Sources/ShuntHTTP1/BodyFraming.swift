/// How a message's body is delimited on the wire (RFC 9112 §6.3).
public enum BodyFraming: Hashable, Sendable {
    /// No body: the next message starts right after the head.
    case none
    /// Exactly this many octets.
    case contentLength(Int64)
    /// `Transfer-Encoding: chunked`, ended by the last chunk and the trailer section.
    case chunked
    /// Responses only: everything until the server closes the connection.
    case closeDelimited
}
