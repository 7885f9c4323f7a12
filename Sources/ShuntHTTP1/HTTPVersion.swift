/// The two protocol versions the edge speaks; any other `HTTP/x.y` is refused with 505.
public enum HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    case http10
    case http11

    public var description: String {
        switch self {
        case .http10: "HTTP/1.0"
        case .http11: "HTTP/1.1"
        }
    }
}
