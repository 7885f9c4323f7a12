/// JSON string literals for the one-object-a-line outputs (the agent's log, the laptop's request
/// log, `shunt-wire decode --output json`), written by hand on paths that run per request or per
/// frame, where a JSON encoder per line would cost more than the work it reports.
public enum JSONText {
    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped
    /// (RFC 8259 §7), everything else as is.
    public static func quoted(_ text: String) -> String {
        if needsNoEscape(text) {
            return "\"" + text + "\""
        }
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `text` as a JSON string literal, appended to `out`.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        if needsNoEscape(text) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: quoted(text).utf8)
        }
    }

    /// Most values (paths, ids, addresses) need no escape: one scan of the octets, then one copy.
    private static func needsNoEscape(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
