import NIOCore

/// How the text form writes a byte field: `"quoted UTF-8"` when the octets are printable text,
/// `0x…` hex otherwise; a trailing `…` marks a field cut short for display.
public enum WireBytesText {
    /// Quoted text (escapes `\r \n \t \" \\`) or hex, of at most `limit` octets (nil: all of them).
    public static func render(_ bytes: some Collection<UInt8>, limit: Int? = nil) -> String {
        let shown = limit.map { Array(bytes.prefix($0)) } ?? Array(bytes)
        let more = shown.count < bytes.count ? "…" : ""
        if let text = printableText(shown) {
            return quote(text) + more
        }
        return "0x" + hex(shown) + more
    }

    public static func render(_ buffer: ByteBuffer, limit: Int? = nil) -> String {
        render(buffer.readableBytesView, limit: limit)
    }

    /// Lower-case hex without separators.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var text = ""
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.unicodeScalars.append(hexDigits[Int(byte >> 4)])
            text.unicodeScalars.append(hexDigits[Int(byte & 0xF)])
        }
        return text
    }

    static let hexDigits: [Unicode.Scalar] = Array("0123456789abcdef".unicodeScalars)

    /// The octets as text when they are valid UTF-8 without control characters other than CR LF TAB.
    /// A cut in the middle of a multi-octet character makes it hex, which is still exact.
    static func printableText(_ bytes: [UInt8]) -> String? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let printable = text.unicodeScalars.allSatisfy { scalar in
            (scalar.value >= 0x20 && scalar.value != 0x7F && !(0x80...0x9F).contains(scalar.value))
                || scalar == "\t" || scalar == "\r" || scalar == "\n"
        }
        return printable ? text : nil
    }

    static func quote(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": quoted += "\\r"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
