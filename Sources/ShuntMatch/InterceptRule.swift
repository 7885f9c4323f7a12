/// One developer's intercept on a port: who owns it, its name, and its rule compiled for matching
/// (header names lowercased to octets, the regex to an automaton) once, when it is made.
public struct InterceptRule: Sendable, CustomStringConvertible {
    /// The developer's identity, from the authenticated session, never from the rule's JSON.
    public let owner: String
    /// Unique on the port.
    public let name: String
    public let spec: RuleSpec

    let headers: [CompiledHeader]
    let path: CompiledPath

    struct CompiledHeader: Sendable {
        let name: [UInt8]
        let value: [UInt8]
    }

    enum CompiledPath: Sendable {
        case any
        case equal([UInt8])
        /// The prefix, and whether it ends with `/`.
        case prefix([UInt8], endsWithSlash: Bool)
        case regex(PathRegex)
    }

    public init(owner: String, name: String, spec: RuleSpec, limits: MatchLimits = .default) throws(RuleError) {
        let nameBytes = Array(name.utf8)
        guard (1...limits.maxInterceptNameLength).contains(nameBytes.count), nameBytes.allSatisfy(Self.isNameCharacter) else {
            throw .interceptNameInvalid(name: name, limit: limits.maxInterceptNameLength)
        }
        let ownerBytes = Array(owner.utf8)
        guard (1...limits.maxOwnerLength).contains(ownerBytes.count), ownerBytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw .ownerInvalid(owner: owner, limit: limits.maxOwnerLength)
        }
        self.owner = owner
        self.name = name
        self.spec = spec
        headers = spec.headers.map { CompiledHeader(name: Array($0.name.utf8), value: Array($0.value.utf8)) }
        switch spec.path {
        case nil:
            path = .any
        case let condition?:
            switch condition.kind {
            case .equal:
                path = .equal(Array(condition.value.utf8))
            case .prefix:
                path = .prefix(Array(condition.value.utf8), endsWithSlash: condition.value.hasSuffix("/"))
            case .regex:
                do {
                    path = .regex(try PathRegex(condition.value, limits: limits))
                } catch {
                    throw .regex(error)
                }
            }
        }
    }

    public var isGlobal: Bool { spec.isGlobal }

    /// Whether the request is this rule's. A global rule takes every request.
    public func matches<Request: MatchableRequest>(_ request: Request) -> Bool {
        if spec.isGlobal { return true }
        for header in headers {
            let found = header.name.withUnsafeBytes { name in
                header.value.withUnsafeBytes { value in
                    request.containsHeader(named: name) { Self.valueEquals($0, value) }
                }
            }
            if !found { return false }
        }
        if case .any = path { return true }
        return request.withPath { path in
            // An absolute-form target without a path means `/`.
            if path.isEmpty { return Self.slash.withUnsafeBytes { matches(path: $0) } }
            return matches(path: path)
        }
    }

    /// Whether the path condition holds for a raw path.
    func matches(path: UnsafeRawBufferPointer) -> Bool {
        switch self.path {
        case .any:
            return true
        case .equal(let literal):
            return literal.withUnsafeBytes { path.elementsEqual($0) }
        case .prefix(let prefix, let endsWithSlash):
            guard path.count >= prefix.count, prefix.withUnsafeBytes({ path.prefix(prefix.count).elementsEqual($0) }) else { return false }
            return endsWithSlash || path.count == prefix.count || path[prefix.count] == UInt8(ascii: "/")
        case .regex(let regex):
            return regex.matches(path)
        }
    }

    public var description: String { "\(name) (\(owner)): \(spec)" }

    private static let slash: [UInt8] = [UInt8(ascii: "/")]

    /// Compares a received value, trimming the spaces and tabs a conformer may have left around it.
    private static func valueEquals(_ received: UnsafeRawBufferPointer, _ expected: UnsafeRawBufferPointer) -> Bool {
        var start = 0
        var end = received.count
        while start < end, received[start] == 0x20 || received[start] == 0x09 { start += 1 }
        while end > start, received[end - 1] == 0x20 || received[end - 1] == 0x09 { end -= 1 }
        guard end - start == expected.count else { return false }
        return UnsafeRawBufferPointer(rebasing: received[start..<end]).elementsEqual(expected)
    }

    private static func isNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
