/// The bounds on intercept rules, each a named setting with a test at the limit.
///
/// The agent applies them to every rule it is sent (a rule is validated again on decode), the
/// laptop to the flags it is given, so a user learns at `shunt intercept` what the agent would refuse.
public struct MatchLimits: Sendable, Hashable {
    /// `--http-header` conditions in one rule, a generated `auto` header included.
    public var maxHeaderConditions: Int
    /// Octets of one header name.
    public var maxHeaderNameLength: Int
    /// Octets of one header value.
    public var maxHeaderValueLength: Int
    /// Octets of a `--http-path-equal` or `--http-path-prefix` value.
    public var maxPathLength: Int
    /// Octets of a `--http-path-regex` pattern.
    public var maxRegexLength: Int
    /// Instructions of a compiled regex, after `{m,n}` is expanded. Bounds the memory of a rule
    /// (about `size² / 8` octets of precomputed transitions) and the cost of a match (linear in the
    /// path, times `size / 64` words). At most `regexProgramSizeCeiling`.
    public var maxRegexProgramSize: Int
    /// The largest count in a `{m}`, `{m,}` or `{m,n}` repeat.
    public var maxRegexRepeatCount: Int
    /// How deep groups may nest in a regex (the parser recurses once per level).
    public var maxRegexNesting: Int
    /// Intercepts on one port at once, all developers together.
    public var maxInterceptsPerPort: Int
    /// Octets of an intercept's name.
    public var maxInterceptNameLength: Int
    /// Octets of an owner identity.
    public var maxOwnerLength: Int

    /// The hard ceiling on `maxRegexProgramSize`: with it, the two state sets a match needs take at
    /// most 1 KiB, which `withUnsafeTemporaryAllocation` always places on the stack.
    public static let regexProgramSizeCeiling = 4_096

    public static let `default` = MatchLimits()

    public init(
        maxHeaderConditions: Int = 16,
        maxHeaderNameLength: Int = 256,
        maxHeaderValueLength: Int = 1_024,
        maxPathLength: Int = 1_024,
        maxRegexLength: Int = 1_024,
        maxRegexProgramSize: Int = 1_000,
        maxRegexRepeatCount: Int = 1_000,
        maxRegexNesting: Int = 32,
        maxInterceptsPerPort: Int = 64,
        maxInterceptNameLength: Int = 128,
        maxOwnerLength: Int = 256
    ) {
        precondition(maxRegexProgramSize <= Self.regexProgramSizeCeiling, "maxRegexProgramSize above \(Self.regexProgramSizeCeiling)")
        self.maxHeaderConditions = maxHeaderConditions
        self.maxHeaderNameLength = maxHeaderNameLength
        self.maxHeaderValueLength = maxHeaderValueLength
        self.maxPathLength = maxPathLength
        self.maxRegexLength = maxRegexLength
        self.maxRegexProgramSize = maxRegexProgramSize
        self.maxRegexRepeatCount = maxRegexRepeatCount
        self.maxRegexNesting = maxRegexNesting
        self.maxInterceptsPerPort = maxInterceptsPerPort
        self.maxInterceptNameLength = maxInterceptNameLength
        self.maxOwnerLength = maxOwnerLength
    }
}
