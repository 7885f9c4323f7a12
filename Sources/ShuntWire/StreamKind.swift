/// What a stream is for, from its STREAM_OPEN (spec §10). 0x04–0x7F are reserved, 0x80–0xFF extensions.
public struct StreamKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// One raw TCP connection taken by a global intercept.
    public static let tcp = StreamKind(rawValue: 0x01)
    /// One HTTP/1.1 exchange (request, then response; a raw pipe after 101).
    public static let http = StreamKind(rawValue: 0x02)
    /// One control call (spec §11).
    public static let control = StreamKind(rawValue: 0x03)
    /// One HTTP/2 connection with prior knowledge, the agent the client: the streams of one caller's
    /// HTTP/2 connection that one intercept matched.
    public static let http2 = StreamKind(rawValue: 0x04)

    public var name: String {
        switch rawValue {
        case 0x01: "TCP"
        case 0x02: "HTTP"
        case 0x03: "CONTROL"
        case 0x04: "HTTP2"
        default: "KIND(0x" + hex2(rawValue) + ")"
        }
    }

    public var description: String { name }
}
