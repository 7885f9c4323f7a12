/// A validated rule: global (every connection to the port, raw TCP), or personal (the requests that
/// carry all of `headers` and, if given, match `path`).
///
/// Only valid rules can be made: through `RuleFlags` on the laptop, or by decoding the JSON the
/// laptop sends, which validates everything again on the agent.
public struct RuleSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    public let isGlobal: Bool
    /// Sorted by name; empty for a global rule, never empty for a personal one.
    public let headers: [HeaderCondition]
    public let path: PathCondition?

    /// `--http-header=all`.
    public static let global = RuleSpec(isGlobal: true, headers: [], path: nil)

    private init(isGlobal: Bool, headers: [HeaderCondition], path: PathCondition?) {
        self.isGlobal = isGlobal
        self.headers = headers
        self.path = path
    }

    /// A personal rule. Each header name at most once, at least one header.
    public init(headers: [HeaderCondition], path: PathCondition? = nil, limits: MatchLimits = .default) throws(RuleError) {
        guard !headers.isEmpty else { throw .noHeaderCondition }
        guard headers.count <= limits.maxHeaderConditions else {
            throw .tooManyHeaders(count: headers.count, limit: limits.maxHeaderConditions)
        }
        let sorted = headers.sorted { ($0.name, $0.value) < ($1.name, $1.value) }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.name == second.name {
            throw .duplicateHeader(name: first.name)
        }
        self.init(isGlobal: false, headers: sorted, path: path)
    }

    /// The header `auto` generated, with its curl and browser-extension forms.
    public var generatedHeader: GeneratedHeader? {
        headers.first(where: \.isGenerated).map { GeneratedHeader(value: $0.value) }
    }

    /// The flags that give this rule (with a generated header written out), in canonical order:
    /// headers by name, then the path flag.
    public var canonicalFlags: [String] {
        if isGlobal { return ["--http-header=all"] }
        return headers.map { "--http-header=\($0)" } + (path.map { [$0.description] } ?? [])
    }

    /// `canonicalFlags` quoted for a POSIX shell, as `shunt list` shows a rule.
    public var description: String {
        canonicalFlags.map(Self.shellQuoted).joined(separator: " ")
    }

    private static let shellSafe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.:,@%+".utf8)

    static func shellQuoted(_ argument: String) -> String {
        if argument.utf8.allSatisfy(shellSafe.contains) { return argument }
        return "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: #"'\''"#) + "'"
    }

    // MARK: Codable: `{"global": true}` or `{"headers": [...], "path": {"prefix": "/api"}}`.

    private enum CodingKeys: String, CodingKey { case global, headers, path }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try container.decodeIfPresent(Bool.self, forKey: .global) == true {
            if container.contains(.headers) { throw RuleError.globalCombined(with: "--http-header") }
            if container.contains(.path) { throw RuleError.globalCombined(with: "a path flag") }
            self = .global
            return
        }
        try self.init(
            headers: try container.decodeIfPresent([HeaderCondition].self, forKey: .headers) ?? [],
            path: try container.decodeIfPresent(PathCondition.self, forKey: .path),
            limits: decoder.matchLimits
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if isGlobal {
            try container.encode(true, forKey: .global)
            return
        }
        try container.encode(headers, forKey: .headers)
        try container.encodeIfPresent(path, forKey: .path)
    }
}
