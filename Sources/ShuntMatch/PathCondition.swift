/// The path part of a personal rule: `--http-path-equal`, `--http-path-prefix` or `--http-path-regex`.
///
/// Paths are matched raw, as the request-target carries them: no percent-decoding, no dot-segment
/// removal, no case folding. The edge then never decides differently than the application would
/// have to, and `/a%2Fb` is not `/a/b`. The query (from `?`) and fragment (from `#`) are not part of
/// the path.
public struct PathCondition: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The path is exactly the value.
        case equal
        /// Segment-aware: `/api` matches `/api` and `/api/...`, not `/apix`; `/api/` matches `/api/` and `/api/...`.
        case prefix
        /// The regex matches the whole path.
        case regex

        public var flag: String { "--http-path-\(rawValue)" }
    }

    public let kind: Kind
    public let value: String

    public init(_ kind: Kind, _ value: String, limits: MatchLimits = .default) throws(RuleError) {
        self.kind = kind
        self.value = value
        switch kind {
        case .equal, .prefix:
            let bytes = Array(value.utf8)
            guard bytes.first == UInt8(ascii: "/") else { throw .pathNotAbsolute(flag: kind.flag, path: value) }
            guard bytes.count <= limits.maxPathLength else {
                throw .pathTooLong(flag: kind.flag, length: bytes.count, limit: limits.maxPathLength)
            }
            if let bad = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
                throw .pathHasQuery(flag: kind.flag, column: bad + 1)
            }
            // A request-target is visible ASCII (RFC 9112 §3.2); anything else could never match.
            if let bad = bytes.firstIndex(where: { $0 <= 0x20 || $0 >= 0x7F }) {
                throw .pathInvalidCharacter(flag: kind.flag, column: bad + 1, byte: bytes[bad])
            }
        case .regex:
            do {
                _ = try PathRegex(value, limits: limits)
            } catch {
                throw .regex(error)
            }
        }
    }

    public static func equal(_ path: String, limits: MatchLimits = .default) throws(RuleError) -> PathCondition {
        try PathCondition(.equal, path, limits: limits)
    }

    public static func prefix(_ path: String, limits: MatchLimits = .default) throws(RuleError) -> PathCondition {
        try PathCondition(.prefix, path, limits: limits)
    }

    public static func regex(_ pattern: String, limits: MatchLimits = .default) throws(RuleError) -> PathCondition {
        try PathCondition(.regex, pattern, limits: limits)
    }

    /// The flag that gives this condition, `--http-path-prefix=/api`.
    public var description: String { "\(kind.flag)=\(value)" }

    // MARK: Codable, as spec §11 has it: `{"match": "prefix", "value": "/api"}`; validated again on decode.

    private enum CodingKeys: String, CodingKey { case match, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let match = try container.decode(String.self, forKey: .match)
        guard let kind = Kind(rawValue: match) else {
            throw DecodingError.dataCorruptedError(forKey: .match, in: container,
                                                   debugDescription: "a path match is equal, prefix or regex, not \"\(match)\"")
        }
        try self.init(kind, try container.decode(String.self, forKey: .value), limits: decoder.matchLimits)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.rawValue, forKey: .match)
        try container.encode(value, forKey: .value)
    }
}
