import NIOHPACK
import ShuntHTTP1
import ShuntMatch

/// An HTTP/2 request's header block as the router sees it: `:path` up to the first `?` or `#` for
/// path rules; regular fields, never pseudo-header fields, for header rules (so a rule on `path` or
/// `authority` cannot be met by `:path` or `:authority`).
public struct H2RoutableRequest: MatchableRequest {
    public let headers: HPACKHeaders

    public init(headers: HPACKHeaders) {
        self.headers = headers
    }

    public func withPath<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var path = Substring(headers.first(name: ":path") ?? "")
        if let cut = path.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            path = path[..<cut]
        }
        return path.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    public func containsHeader(named lowercasedName: UnsafeRawBufferPointer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        for (name, value, _) in headers where !name.hasPrefix(":") {
            var name = name
            guard name.withUTF8({ Self.headerName(UnsafeRawBufferPointer($0), equals: lowercasedName) }) else { continue }
            var trimmed = Self.trimmingSpaceAndTab(value)
            if trimmed.withUTF8({ body(UnsafeRawBufferPointer($0)) }) { return true }
        }
        return false
    }

    static func trimmingSpaceAndTab(_ value: String) -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = value.firstIndex(where: { !isBlank($0) }), let last = value.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return value[first...last]
    }
}

/// What the edge changes in an HTTP/2 request it forwards: the client appended to
/// `x-forwarded-for` and `forwarded` (RFC 7239), as for HTTP/1.1. Pseudo-header fields, `te` and
/// everything else pass unchanged (connection-specific fields cannot arrive: the HTTP/2 layer refuses
/// them, RFC 9113 §8.2.2).
public enum H2ForwardedHeaders {
    public static func forwarded(_ headers: HPACKHeaders, client: ForwardedHeadWriter.ClientAddress, proto: String = "http") -> HPACKHeaders {
        var result = HPACKHeaders()
        result.reserveCapacity(headers.count + 2)
        var forwardedFor: [String] = []
        var forwarded: [String] = []
        for (name, value, indexing) in headers {
            switch name {
            case "x-forwarded-for": forwardedFor.append(value)
            case "forwarded": forwarded.append(value)
            default: result.add(name: name, value: value, indexing: indexing)
            }
        }
        result.add(name: "x-forwarded-for", value: (forwardedFor.filter { !$0.isEmpty } + [client.text]).joined(separator: ", "))
        result.add(name: "forwarded", value: (forwarded.filter { !$0.isEmpty } + ["for=\(client.forwardedNode);proto=\(proto)"]).joined(separator: ", "))
        return result
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc` or `application/grpc+…`).
    public static func isGRPC(_ headers: HPACKHeaders) -> Bool {
        guard let type = headers.first(name: "content-type")?.lowercased() else { return false }
        return type == "application/grpc" || type.hasPrefix("application/grpc+") || type.hasPrefix("application/grpc;")
    }
}
