/// A `--http-path-regex` pattern, compiled once, that matches the whole of a raw path in linear time.
///
/// The subset: literals, `.`, classes `[a-z0-9_-]` and `[^...]`, the escapes `\d \D \w \W \s \S
/// \t \n \r` and `\` before punctuation, groups `( )` and `(?: )`, `|`, `* + ?`, `{m}`, `{m,}`,
/// `{m,n}` (a lazy `?` after a quantifier is accepted and changes nothing), and `^` / `$`, which are
/// redundant since the pattern must match the whole path. Matching is on octets: `.` is one octet.
/// Backreferences, lookaround, named groups and flags are refused with `notSupported`.
public struct PathRegex: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    let automaton: PathAutomaton

    public init(_ pattern: String, limits: MatchLimits = .default) throws(RegexSyntaxError) {
        self.pattern = pattern
        self.automaton = PathAutomaton(try RegexParser.parse(pattern, limits: limits))
    }

    /// An automaton built from a node, not a pattern (for the prefix and equal languages of the conflict check).
    init(node: RegexNode, pattern: String) {
        self.pattern = pattern
        self.automaton = PathAutomaton(node)
    }

    /// Instructions of the compiled program, `match` included.
    public var programSize: Int { automaton.programSize }

    /// Whether the regex matches the whole of `path` (octets as sent: no decoding).
    public func matches(_ path: UnsafeRawBufferPointer) -> Bool {
        automaton.matches(path)
    }

    public func matches(_ path: some StringProtocol) -> Bool {
        var utf8 = String(path)
        return utf8.withUTF8 { automaton.matches(UnsafeRawBufferPointer($0)) }
    }

    /// Whether some path matches both.
    func intersects(_ other: PathRegex) -> Bool {
        automaton.intersects(other.automaton)
    }

    public var description: String { pattern }

    public static func == (lhs: PathRegex, rhs: PathRegex) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }
}
