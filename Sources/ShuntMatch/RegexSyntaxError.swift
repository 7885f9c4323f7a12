/// Why a `--http-path-regex` pattern was refused, and where.
///
/// `column` is 1-based and counts octets of the pattern; since a pattern is refused at its first
/// non-ASCII character, every column before an error is also a character count.
public struct RegexSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case empty = "REGEX_EMPTY"
        case tooLong = "REGEX_TOO_LONG"
        case nonASCII = "REGEX_NON_ASCII"
        case controlCharacter = "REGEX_CONTROL_CHARACTER"
        case missingCloseParen = "REGEX_MISSING_CLOSE_PAREN"
        case unmatchedCloseParen = "REGEX_UNMATCHED_CLOSE_PAREN"
        case nothingToRepeat = "REGEX_NOTHING_TO_REPEAT"
        case badRepeat = "REGEX_BAD_REPEAT"
        case repeatTooLarge = "REGEX_REPEAT_TOO_LARGE"
        case missingCloseBracket = "REGEX_MISSING_CLOSE_BRACKET"
        case emptyClass = "REGEX_EMPTY_CLASS"
        case badRange = "REGEX_BAD_RANGE"
        case badEscape = "REGEX_BAD_ESCAPE"
        case notSupported = "REGEX_NOT_SUPPORTED"
        case nestingTooDeep = "REGEX_NESTING_TOO_DEEP"
        case programTooLarge = "REGEX_PROGRAM_TOO_LARGE"
    }

    public let kind: Kind
    public let pattern: String
    /// 1-based octet position of the offending character (one past the end for "the pattern ended").
    public let column: Int
    /// What is wrong and what was expected, without the position.
    public let message: String

    public init(_ kind: Kind, pattern: String, column: Int, _ message: String) {
        self.kind = kind
        self.pattern = pattern
        self.column = column
        self.message = message
    }

    public var code: String { kind.rawValue }

    /// The pattern with a caret under the column, for a terminal.
    public var pointer: String {
        pattern + "\n" + String(repeating: " ", count: max(0, column - 1)) + "^"
    }

    public var description: String { "\(code) at column \(column): \(message)" }
}
