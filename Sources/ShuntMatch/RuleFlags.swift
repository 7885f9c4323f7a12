/// The raw values of `shunt intercept`'s rule flags, turned into a validated `RuleSpec`.
///
/// - `--http-header=KEY=VALUE` or `KEY: VALUE`, repeatable: all must match (AND).
/// - `--http-header=all`: a global intercept; nothing else may be given with it.
/// - `--http-header=auto`: adds `x-shunt-intercept: <random id>` to the AND set; implied when no
///   header flag is given (so a bare `shunt intercept` is personal: a global intercept is always
///   asked for by name).
/// - `--http-path-equal`, `--http-path-prefix`, `--http-path-regex`: at most one, once.
///
/// The path flags are arrays so that a flag given twice is refused rather than the last one winning.
/// Errors come in a fixed order: keywords and `all` combinations, path flags, then each header in
/// the order given, then the set as a whole.
public struct RuleFlags: Sendable, Hashable {
    public var httpHeader: [String]
    public var pathEqual: [String]
    public var pathPrefix: [String]
    public var pathRegex: [String]

    public init(httpHeader: [String] = [], pathEqual: [String] = [], pathPrefix: [String] = [], pathRegex: [String] = []) {
        self.httpHeader = httpHeader
        self.pathEqual = pathEqual
        self.pathPrefix = pathPrefix
        self.pathRegex = pathRegex
    }

    public init(httpHeader: [String] = [], pathEqual: String?, pathPrefix: String? = nil, pathRegex: String? = nil) {
        self.init(httpHeader: httpHeader, pathEqual: pathEqual.map { [$0] } ?? [], pathPrefix: pathPrefix.map { [$0] } ?? [], pathRegex: pathRegex.map { [$0] } ?? [])
    }

    /// The rule, with an `auto` header drawn from the system's random source.
    public func spec(limits: MatchLimits = .default) throws(RuleError) -> RuleSpec {
        var generator = SystemRandomNumberGenerator()
        return try spec(limits: limits, using: &generator)
    }

    public func spec(limits: MatchLimits = .default, using generator: inout some RandomNumberGenerator) throws(RuleError) -> RuleSpec {
        let pathFlags = [(PathCondition.Kind.equal, pathEqual), (.prefix, pathPrefix), (.regex, pathRegex)]
            .flatMap { kind, values in values.map { (kind, $0) } }

        let keywords = httpHeader.filter { $0 == "all" || $0 == "auto" }
        for keyword in ["all", "auto"] where keywords.filter({ $0 == keyword }).count > 1 {
            throw .duplicateKeyword(keyword)
        }
        if keywords.contains("all") {
            if let other = httpHeader.first(where: { $0 != "all" }) { throw .globalCombined(with: "--http-header=\(other)") }
            if let (kind, _) = pathFlags.first { throw .globalCombined(with: kind.flag) }
            return .global
        }

        if pathFlags.count > 1 { throw .multiplePathFlags(pathFlags.map(\.0.flag)) }
        let path = try pathFlags.first.map { kind, value throws(RuleError) in try PathCondition(kind, value, limits: limits) }

        var headers: [HeaderCondition] = []
        for flag in httpHeader where flag != "auto" {
            headers.append(try HeaderCondition(flag: flag, limits: limits))
        }
        if keywords.contains("auto") || headers.isEmpty {
            headers.append(GeneratedHeader(using: &generator).condition)
        }
        return try RuleSpec(headers: headers, path: path, limits: limits)
    }
}
