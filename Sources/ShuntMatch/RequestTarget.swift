/// Where the path is in an HTTP/1.1 request-target (RFC 9112 §3.2).
public enum RequestTarget {
    /// The range of the path in `target`: origin-form `/a/b?q` gives `/a/b`; absolute-form
    /// `http://host/a?q` gives `/a` (and an empty range for `http://host?q`, which the router
    /// matches as `/`); asterisk-form `*` gives `*`. The query and fragment are cut off.
    public static func pathRange(in target: UnsafeRawBufferPointer) -> Range<Int> {
        var start = 0
        if let first = target.first, first != UInt8(ascii: "/"), let authority = authorityStart(target) {
            start = authority
            while start < target.count, target[start] != UInt8(ascii: "/"), target[start] != UInt8(ascii: "?"), target[start] != UInt8(ascii: "#") {
                start += 1
            }
        }
        var end = start
        while end < target.count, target[end] != UInt8(ascii: "?"), target[end] != UInt8(ascii: "#") { end += 1 }
        return start..<end
    }

    public static func pathRange(in target: [UInt8]) -> Range<Int> {
        target.withUnsafeBytes { pathRange(in: $0) }
    }

    /// After `scheme://` when the target starts with one (scheme = ALPHA *( ALPHA / DIGIT / + / - / . )).
    private static func authorityStart(_ target: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        while index < target.count {
            let byte = target[index]
            let isAlpha = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            if isAlpha || (index > 0 && (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "."))) {
                index += 1
                continue
            }
            break
        }
        guard index > 0, index + 3 <= target.count, target[index] == UInt8(ascii: ":"),
            target[index + 1] == UInt8(ascii: "/"), target[index + 2] == UInt8(ascii: "/")
        else { return nil }
        return index + 3
    }
}
