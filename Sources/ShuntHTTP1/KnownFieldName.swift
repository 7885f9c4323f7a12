/// The field names the parsers and the edge look up in every head (framing, Host, the hop-by-hop list,
/// the forwarding fields), recognized once per field line when it is parsed. A lookup of one of them
/// then asks the head's set of present names first (most heads carry few of them) and compares one
/// octet per field instead of the name: about ten such lookups are made for every request the edge
/// passes on.
enum KnownFieldName: UInt8, CaseIterable, Sendable {
    case other = 0
    case host, contentLength, transferEncoding, connection, keepAlive, proxyConnection, te, trailer, upgrade
    case proxyAuthorization, proxyAuthenticate, expect, forwarded, xForwardedFor

    /// The name, lowercased.
    var text: StaticString {
        switch self {
        case .other: ""
        case .host: "host"
        case .contentLength: "content-length"
        case .transferEncoding: "transfer-encoding"
        case .connection: "connection"
        case .keepAlive: "keep-alive"
        case .proxyConnection: "proxy-connection"
        case .te: "te"
        case .trailer: "trailer"
        case .upgrade: "upgrade"
        case .proxyAuthorization: "proxy-authorization"
        case .proxyAuthenticate: "proxy-authenticate"
        case .expect: "expect"
        case .forwarded: "forwarded"
        case .xForwardedFor: "x-forwarded-for"
        }
    }

    /// The fields that always describe one connection (RFC 9110 §7.6.1): `HopByHopHeaders.names`.
    var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
             .proxyAuthorization, .proxyAuthenticate:
            true
        case .other, .host, .contentLength, .expect, .forwarded, .xForwardedFor:
            false
        }
    }

    /// Fields the edge keeps although they are (or are named as) hop-by-hop: the body is forwarded
    /// verbatim, so its framing fields must go with it, and Host is never connection-specific. Without
    /// this, `Connection: Content-Length` would strip the framing and desynchronise the app.
    var isFramingOrRouting: Bool {
        self == .transferEncoding || self == .contentLength || self == .host
    }

    /// Its bit in `HTTPHeaderFields.present`.
    var bit: UInt32 { 1 << UInt32(rawValue) }

    /// Which known name the octets `range` of `bytes` spell, ASCII case-insensitively; `.other` for
    /// any other. The length picks the one or two candidates.
    @inline(__always)
    static func of(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> KnownFieldName {
        let candidate: KnownFieldName
        switch range.count {
        case 2: candidate = .te
        case 4: candidate = .host
        case 6: candidate = .expect
        case 7: candidate = HTTPSyntax.lowercased(bytes[range.lowerBound]) == UInt8(ascii: "u") ? .upgrade : .trailer
        case 9: candidate = .forwarded
        case 10: candidate = HTTPSyntax.lowercased(bytes[range.lowerBound]) == UInt8(ascii: "c") ? .connection : .keepAlive
        case 14: candidate = .contentLength
        case 15: candidate = .xForwardedFor
        case 16: candidate = .proxyConnection
        case 17: candidate = .transferEncoding
        case 18: candidate = .proxyAuthenticate
        case 19: candidate = .proxyAuthorization
        default: return .other
        }
        return candidate.text.withUTF8Buffer { wanted in
            var index = range.lowerBound
            for byte in wanted {
                guard HTTPSyntax.lowercased(bytes[index]) == byte else { return .other }
                index += 1
            }
            return candidate
        }
    }

    /// Which known name `name` is (a name a caller looks up).
    @inline(__always)
    static func of(_ name: some StringProtocol) -> KnownFieldName {
        of(octets: name.utf8)
    }

    /// Which known name the octets `name` spell (a name as received, e.g. one a Connection field lists).
    @inline(__always)
    static func of(octets name: some Collection<UInt8>) -> KnownFieldName {
        if let known = name.withContiguousStorageIfAvailable({ of(UnsafeRawBufferPointer($0), 0..<$0.count) }) { return known }
        return Array(name).withUnsafeBytes { of($0, 0..<$0.count) }
    }
}
