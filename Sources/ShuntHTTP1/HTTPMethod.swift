import NIOCore

/// A request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is an unknown method, not GET.
public enum HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    case get, head, post, put, delete, connect, options, trace, patch
    /// Any other token; only these allocate.
    case other(String)

    init(token: ByteBufferView) {
        switch token.count {
        case 3 where token.elementsEqual("GET".utf8): self = .get
        case 3 where token.elementsEqual("PUT".utf8): self = .put
        case 4 where token.elementsEqual("HEAD".utf8): self = .head
        case 4 where token.elementsEqual("POST".utf8): self = .post
        case 5 where token.elementsEqual("TRACE".utf8): self = .trace
        case 5 where token.elementsEqual("PATCH".utf8): self = .patch
        case 6 where token.elementsEqual("DELETE".utf8): self = .delete
        case 7 where token.elementsEqual("CONNECT".utf8): self = .connect
        case 7 where token.elementsEqual("OPTIONS".utf8): self = .options
        default: self = .other(String(decoding: token, as: UTF8.self))
        }
    }

    /// The method named by the octets of `token` (a token: checked by the caller).
    init(token: UnsafeRawBufferPointer) {
        func equals(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == token.count else { return false }
            for index in 0..<token.count where token[index] != name.utf8Start[index] { return false }
            return true
        }
        switch token.count {
        case 3 where equals("GET"): self = .get
        case 3 where equals("PUT"): self = .put
        case 4 where equals("HEAD"): self = .head
        case 4 where equals("POST"): self = .post
        case 5 where equals("TRACE"): self = .trace
        case 5 where equals("PATCH"): self = .patch
        case 6 where equals("DELETE"): self = .delete
        case 7 where equals("CONNECT"): self = .connect
        case 7 where equals("OPTIONS"): self = .options
        default: self = .other(String(decoding: token, as: UTF8.self))
        }
    }

    public var description: String {
        switch self {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .connect: "CONNECT"
        case .options: "OPTIONS"
        case .trace: "TRACE"
        case .patch: "PATCH"
        case .other(let name): name
        }
    }
}
