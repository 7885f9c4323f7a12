/// What follows a response head on the connection (RFC 9112 §6.3).
public enum ResponseFraming: Hashable, Sendable {
    /// A 1xx other than 101: no body, and another response head follows for the same request.
    case interim
    /// 101 to an upgrade request: the connection becomes a raw pipe in both directions.
    case switchingProtocols
    /// 2xx to CONNECT: the connection becomes a tunnel in both directions.
    case tunnel
    /// A final response with this body.
    case body(BodyFraming)
}
