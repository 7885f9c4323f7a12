/// The header `--http-header=auto` makes: `x-shunt-intercept: <16 random base32 characters>`, in
/// the forms a developer pastes into a tool.
public struct GeneratedHeader: Sendable, Hashable {
    public static let name = "x-shunt-intercept"
    /// Lowercase RFC 4648 base32: 5 bits a character, 80 bits in all.
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    public static let idLength = 16

    public let value: String

    public init(value: String) { self.value = value }

    public init(using generator: inout some RandomNumberGenerator) {
        var id: [UInt8] = []
        for _ in 0..<Self.idLength { id.append(Self.alphabet[Int(generator.next(upperBound: UInt8(32)))]) }
        value = String(decoding: id, as: UTF8.self)
    }

    public var name: String { Self.name }

    /// `-H 'x-shunt-intercept: ID'`, for curl.
    public var curlArgument: String { "-H '\(name): \(value)'" }

    /// For a browser header extension (ModHeader and the like), which asks for name and value apart.
    public var browserExtensionForm: String { "Header name: \(name) / value: \(value)" }

    var condition: HeaderCondition {
        // The name is a token and the value base32: this cannot fail.
        try! HeaderCondition(name: name, value: value, isGenerated: true)
    }
}
