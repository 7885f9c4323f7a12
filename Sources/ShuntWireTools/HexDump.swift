/// Why an input to `decode` could not be read (not a protocol error: the text around the bytes).
public struct InputFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Reads octets from hex text: plain hex (any spacing, `0x` prefixes allowed), or dump lines with
/// an offset column and an ASCII column (`xxd`, `hexdump -C`, `od -A x -t x1`-like, tshark's hex).
/// A line is taken as a dump line when its first token is an offset of at least 6 hex digits
/// (optionally ending in `:`) equal to the count of octets read so far; the ASCII column is then
/// told apart from the hex by its length, or by the next line's offset.
public enum HexDump {
    public static func parse(_ text: String) throws(InputFormatError) -> [UInt8] {
        var bytes: [UInt8] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var previous: [UInt8] = []
        var repeating = false
        for (index, line) in lines.enumerated() {
            let tokens = tokenize(line)
            // hexdump -C: `*` stands for lines equal to the one before, up to the next offset.
            if tokens.count == 1 && tokens[0].text == "*" && !previous.isEmpty {
                repeating = true
                continue
            }
            if repeating, let first = tokens.first, let lineOffset = dumpOffset(first.text), lineOffset > bytes.count {
                while bytes.count < lineOffset { bytes += previous.prefix(lineOffset - bytes.count) }
            }
            repeating = false
            // A lone offset equal to the count read is the end marker of hexdump and od.
            if tokens.count == 1, !previous.isEmpty, let lineOffset = dumpOffset(tokens[0].text), lineOffset == bytes.count { continue }
            let next = index + 1 < lines.count ? lines[index + 1] : nil
            let lineBytes = try parseLine(line, number: index + 1, offset: bytes.count, nextLine: next)
            if !lineBytes.isEmpty { previous = lineBytes }
            bytes += lineBytes
        }
        return bytes
    }

    /// The octets of one line; `offset` is the count read so far, `nextLine` helps a dump line tell
    /// its hex from its ASCII column.
    static func parseLine(_ line: String, number: Int, offset: Int, nextLine: String?) throws(InputFormatError) -> [UInt8] {
        let tokens = tokenize(line)
        guard let first = tokens.first else { return [] }
        if tokens.count > 1, let lineOffset = dumpOffset(first.text), lineOffset == offset {
            var expected: Int?
            if let nextLine, let nextFirst = tokenize(nextLine).first, let nextOffset = dumpOffset(nextFirst.text), nextOffset > offset {
                expected = nextOffset - offset
            }
            return dumpBytes(line, tokens: Array(tokens.dropFirst()), expected: expected)
        }
        var bytes: [UInt8] = []
        for token in tokens {
            var digits = Substring(token.text)
            if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
            if digits.hasSuffix(",") { digits = digits.dropLast() }
            guard let decoded = Hex.decode(Array(digits.utf8)) else {
                throw InputFormatError(line: number, "\"\(token.text)\" at column \(token.start + 1) is not hex octets (two digits each)")
            }
            bytes += decoded
        }
        return bytes
    }

    /// Hex groups after the offset, up to where the ASCII column starts.
    static func dumpBytes(_ line: String, tokens: [(text: String, start: Int, end: Int)], expected: Int?) -> [UInt8] {
        var groups: [(bytes: [UInt8], end: Int)] = []
        for token in tokens {
            guard let decoded = Hex.decode(Array(token.text.utf8)), !decoded.isEmpty else { break }
            groups.append((decoded, token.end))
        }
        var counts = [0]
        for group in groups { counts.append(counts.last! + group.bytes.count) }
        let characters = Array(line)
        var chosen = groups.count
        if let expected {
            chosen = counts.lastIndex(where: { $0 <= expected }) ?? 0
        } else if groups.count > 0 {
            // The ASCII column shows one character per octet: find the split where its length fits.
            for k in stride(from: groups.count, through: 0, by: -1) {
                let restStart = k == 0 ? (tokens.first?.start ?? characters.count) : groups[k - 1].end
                let rest = String(characters[min(restStart, characters.count)...])
                var ascii = Substring(rest)
                ascii = ascii.drop { $0 == " " || $0 == "\t" }
                if ascii.hasPrefix("|") && ascii.hasSuffix("|") && ascii.count >= 2 { ascii = ascii.dropFirst().dropLast() }
                // Leading spaces may be octets 0x20 shown as ASCII, so the column is between the
                // trimmed length and the untrimmed one less its separator.
                if !ascii.isEmpty && ascii.count <= counts[k] && counts[k] <= max(rest.count - 1, ascii.count) { chosen = k; break }
            }
        }
        var bytes = groups.prefix(chosen).flatMap(\.bytes)
        if let expected, bytes.count > expected { bytes = Array(bytes.prefix(expected)) }
        return bytes
    }

    /// `00000010` or `00000010:` as a number, when at least 6 hex digits.
    static func dumpOffset(_ token: String) -> Int? {
        var digits = Substring(token)
        if digits.hasSuffix(":") { digits = digits.dropLast() }
        guard digits.count >= 6, digits.count <= 16, digits.allSatisfy(\.isHexDigit) else { return nil }
        return Int(digits, radix: 16)
    }

    static func tokenize(_ line: String) -> [(text: String, start: Int, end: Int)] {
        var tokens: [(String, Int, Int)] = []
        var current = ""
        var start = 0
        for (index, character) in line.enumerated() {
            if character == " " || character == "\t" || character == "\r" {
                if !current.isEmpty { tokens.append((current, start, index)) }
                current = ""
            } else {
                if current.isEmpty { start = index }
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append((current, start, line.count)) }
        return tokens
    }
}
