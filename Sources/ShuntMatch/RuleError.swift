/// Why a rule was refused, by the flag parser on the laptop or by the agent decoding a rule sent
/// to it. Each case has a stable `code` and a `message` a user can act on.
///
/// Columns are 1-based octet positions within the flag's value (what follows `--http-header=`).
public enum RuleError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `--http-header` value that is neither `all`, `auto`, `KEY=VALUE` nor `KEY: VALUE`.
    case headerSyntax(flag: String)
    case headerNameEmpty(flag: String)
    case headerNameNotToken(flag: String, column: Int)
    case headerNameTooLong(name: String, length: Int, limit: Int)
    case headerValueInvalid(flag: String, column: Int, byte: UInt8)
    case headerValueWhitespace(flag: String)
    case headerValueTooLong(name: String, length: Int, limit: Int)
    case tooManyHeaders(count: Int, limit: Int)
    case duplicateHeader(name: String)
    /// `all` or `auto` given twice.
    case duplicateKeyword(String)
    /// `--http-header=all` with another header or path flag.
    case globalCombined(with: String)
    case multiplePathFlags([String])
    case pathNotAbsolute(flag: String, path: String)
    case pathInvalidCharacter(flag: String, column: Int, byte: UInt8)
    case pathHasQuery(flag: String, column: Int)
    case pathTooLong(flag: String, length: Int, limit: Int)
    case regex(RegexSyntaxError)
    /// A personal rule without a header condition (only a decoded rule can be one).
    case noHeaderCondition
    case interceptNameInvalid(name: String, limit: Int)
    case ownerInvalid(owner: String, limit: Int)

    public var code: String {
        switch self {
        case .headerSyntax: "HEADER_SYNTAX"
        case .headerNameEmpty: "HEADER_NAME_EMPTY"
        case .headerNameNotToken: "HEADER_NAME_NOT_TOKEN"
        case .headerNameTooLong: "HEADER_NAME_TOO_LONG"
        case .headerValueInvalid: "HEADER_VALUE_INVALID"
        case .headerValueWhitespace: "HEADER_VALUE_WHITESPACE"
        case .headerValueTooLong: "HEADER_VALUE_TOO_LONG"
        case .tooManyHeaders: "TOO_MANY_HEADERS"
        case .duplicateHeader: "DUPLICATE_HEADER"
        case .duplicateKeyword: "DUPLICATE_KEYWORD"
        case .globalCombined: "GLOBAL_COMBINED"
        case .multiplePathFlags: "MULTIPLE_PATH_FLAGS"
        case .pathNotAbsolute: "PATH_NOT_ABSOLUTE"
        case .pathInvalidCharacter: "PATH_INVALID_CHARACTER"
        case .pathHasQuery: "PATH_HAS_QUERY"
        case .pathTooLong: "PATH_TOO_LONG"
        case .regex(let error): error.code
        case .noHeaderCondition: "NO_HEADER_CONDITION"
        case .interceptNameInvalid: "INTERCEPT_NAME_INVALID"
        case .ownerInvalid: "OWNER_INVALID"
        }
    }

    public var message: String {
        switch self {
        case .headerSyntax(let flag):
            "--http-header=\(flag): expected KEY=VALUE, KEY: VALUE, all or auto"
        case .headerNameEmpty(let flag):
            "--http-header=\(flag): the header name is empty"
        case .headerNameNotToken(let flag, let column):
            "--http-header=\(flag): \(Self.show(flag, column)) at column \(column) cannot be in a header name "
                + "(RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~)"
        case .headerNameTooLong(let name, let length, let limit):
            "header name \(name.prefix(32))… is \(length) octets, more than the limit of \(limit)"
        case .headerValueInvalid(let flag, let column, let byte):
            "--http-header=\(flag): octet 0x\(Self.hex(byte)) at column \(column) cannot be in a header value "
                + "(no CR, LF, NUL or other control characters)"
        case .headerValueWhitespace(let flag):
            "--http-header=\(flag): the value starts or ends with white space, which HTTP strips: it would never match"
        case .headerValueTooLong(let name, let length, let limit):
            "the value of header \(name) is \(length) octets, more than the limit of \(limit)"
        case .tooManyHeaders(let count, let limit):
            "\(count) header conditions, more than the limit of \(limit) (a generated auto header counts)"
        case .duplicateHeader(let name):
            "header \(name) is given twice; a rule names each header once"
        case .duplicateKeyword(let keyword):
            "--http-header=\(keyword) is given twice"
        case .globalCombined(let other):
            "--http-header=all cannot be combined with \(other): all takes every connection to the port"
        case .multiplePathFlags(let flags):
            "only one path flag may be given, not \(flags.joined(separator: " and "))"
        case .pathNotAbsolute(let flag, let path):
            "\(flag) \(path): a path starts with /"
        case .pathInvalidCharacter(let flag, let column, let byte):
            "\(flag): octet 0x\(Self.hex(byte)) at column \(column) cannot be in a request path; "
                + "paths are matched as sent, so percent-encode it"
        case .pathHasQuery(let flag, let column):
            "\(flag): ? or # at column \(column): the query and fragment are not part of the path that is matched"
        case .pathTooLong(let flag, let length, let limit):
            "\(flag) is \(length) octets, more than the limit of \(limit)"
        case .regex(let error):
            "--http-path-regex: \(error.message) (column \(error.column))"
        case .noHeaderCondition:
            "a personal intercept needs at least one header condition"
        case .interceptNameInvalid(let name, let limit):
            "intercept name '\(name)' must be 1 to \(limit) of the characters A-Z a-z 0-9 . _ -"
        case .ownerInvalid(let owner, let limit):
            "owner '\(owner)' must be 1 to \(limit) octets without control characters"
        }
    }

    public var description: String { "\(code): \(message)" }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }

    private static func show(_ text: String, _ column: Int) -> String {
        let bytes = Array(text.utf8)
        guard column >= 1, column <= bytes.count else { return "the end" }
        let byte = bytes[column - 1]
        if byte == 0x20 { return "a space" }
        if byte < 0x20 || byte >= 0x7F { return "octet 0x\(Self.hex(byte))" }
        return "'\(Character(Unicode.Scalar(byte)))'"
    }
}
