import ShuntWire

/// A line of the text form that does not parse: where, and why.
public struct WireTextError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public init(line: Int, column: Int, _ message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line 3, column 17: unknown field "incremnt" for WINDOW_UPDATE`
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// One parsed line of the text form: the octets it stands for, and the offset and direction it
/// carried (as `decode` printed them), if any.
public struct WireTextLine: Hashable, Sendable {
    public var number: Int
    public var offset: Int?
    public var direction: WireDirection?
    public var bytes: [UInt8]
}

/// Reads the text form of `WireTextFormat` back into octets. The encoder writes what it is told,
/// lies included, so that malformed input can be crafted: `length=` sets the header's length field
/// (DATA and extension payloads not given in full are padded with zero octets up to it), `stream=`
/// takes all 32 bits (the R bit too), `reserved=` sets header octets 6–7, `flags=` takes any octet.
public enum WireTextParser {
    public static func parse(_ text: String) throws(WireTextError) -> [WireTextLine] {
        var lines: [WireTextLine] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if let line = try parseLine(String(raw), number: number) { lines.append(line) }
        }
        return lines
    }

    /// nil for a blank or comment-only line.
    public static func parseLine(_ text: String, number: Int = 1) throws(WireTextError) -> WireTextLine? {
        var tokens = try tokenize(text, line: number)
        guard !tokens.isEmpty else { return nil }
        var offset: Int?
        var direction: WireDirection?
        if let first = tokens.first, first.text.hasPrefix("@") {
            guard let value = Int(first.text.dropFirst()), value >= 0 else {
                throw WireTextError(line: number, column: first.column, "\(first.text) is not an offset (@ and a decimal number)")
            }
            offset = value
            tokens.removeFirst()
        }
        if let first = tokens.first, let named = WireDirection(rawValue: first.text) {
            direction = named
            tokens.removeFirst()
        }
        guard let head = tokens.first else {
            throw WireTextError(line: number, column: text.count + 1, "a frame type is missing after the offset and direction")
        }
        var fields = try Fields(Array(tokens.dropFirst()), line: number, lineLength: text.count)
        let bytes: [UInt8]
        switch head.text {
        case "PREFACE":
            bytes = WireLimits.preface
        case "RAW":
            bytes = try fields.bytes("raw", required: true, allowCut: false)
        case let name where name.hasPrefix("!"):
            // A malformed region as decode printed it: its raw octets reproduce it exactly.
            for key in ["code", "detail", "resumed"] { _ = fields.take(key) }
            bytes = try fields.bytes("raw", required: true, allowCut: false)
        default:
            guard let type = frameType(head.text) else {
                throw WireTextError(line: number, column: head.column, "unknown frame type \"\(head.text)\" (DATA, STREAM_OPEN, RESET, WINDOW_UPDATE, PING, GOAWAY, HELLO, MAX_STREAMS, EXTENSION(0x80…0xff), TYPE(0x..), PREFACE, RAW)")
            }
            bytes = try frameBytes(type: type, fields: &fields)
        }
        try fields.finish(after: head.text)
        return WireTextLine(number: number, offset: offset, direction: direction, bytes: bytes)
    }

    /// `DATA`, `EXTENSION(0x80)`, `RESERVED(0x09)`, `TYPE(0x09)` or `0x09`.
    static func frameType(_ text: String) -> FrameType? {
        for code in UInt8(0)...UInt8(7) where FrameType(rawValue: code).name == text {
            return FrameType(rawValue: code)
        }
        for prefix in ["EXTENSION(", "RESERVED(", "TYPE("] where text.hasPrefix(prefix) && text.hasSuffix(")") {
            return Integer.parse(String(text.dropFirst(prefix.count).dropLast()), as: UInt8.self).map(FrameType.init(rawValue:))
        }
        if text.hasPrefix("0x") { return Integer.parse(text, as: UInt8.self).map(FrameType.init(rawValue:)) }
        return nil
    }

    static func frameBytes(type: FrameType, fields: inout Fields) throws(WireTextError) -> [UInt8] {
        let stream = try fields.integer("stream", as: UInt32.self) ?? 0
        let reserved = try fields.integer("reserved", as: UInt16.self) ?? 0
        let flags = try fields.flags(type: type)
        let length = try fields.integer("length", as: UInt32.self)
        var payload: [UInt8] = []
        var paddable = false
        switch type {
        case .data:
            payload = try fields.bytes("data", required: false, allowCut: true)
            paddable = true
        case .streamOpen:
            payload.append(try fields.kind())
            if fields.has("metadata") {
                payload += try fields.bytes("metadata", required: true, allowCut: false)
            } else {
                for (key, value) in try fields.metadata() {
                    payload.append(UInt8(key.utf8.count))
                    payload += Array(key.utf8)
                    appendInteger(UInt16(truncatingIfNeeded: value.count), to: &payload)
                    payload += value
                }
            }
        case .reset:
            appendInteger(try fields.code(), to: &payload)
            payload += try fields.bytes("reason", required: false, allowCut: false)
        case .windowUpdate:
            appendInteger(try fields.required("increment", as: UInt32.self), to: &payload)
        case .ping:
            appendInteger(try fields.required("opaque", as: UInt64.self), to: &payload)
        case .goAway:
            appendInteger(try fields.required("last_stream_id", as: UInt32.self), to: &payload)
            appendInteger(try fields.code(), to: &payload)
            payload += try fields.bytes("debug", required: false, allowCut: false)
        case .hello:
            appendInteger(try fields.integer("min_version", as: UInt16.self) ?? WireLimits.protocolVersion, to: &payload)
            appendInteger(try fields.integer("max_version", as: UInt16.self) ?? WireLimits.protocolVersion, to: &payload)
            for (id, value) in try fields.settings() {
                appendInteger(id, to: &payload)
                appendInteger(value, to: &payload)
            }
        case .maxStreams:
            appendInteger(try fields.required("maximum", as: UInt32.self), to: &payload)
        default:
            payload = try fields.bytes("payload", required: false, allowCut: true)
            paddable = true
        }
        if paddable, let length, Int(length) > payload.count {
            payload += [UInt8](repeating: 0, count: Int(length) - payload.count)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(WireLimits.headerSize + payload.count)
        appendInteger(length ?? UInt32(truncatingIfNeeded: payload.count), to: &bytes)
        bytes.append(type.rawValue)
        bytes.append(flags)
        appendInteger(reserved, to: &bytes)
        appendInteger(stream, to: &bytes)
        return bytes + payload
    }

    static func appendInteger<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }

    // MARK: Tokens

    struct Token {
        var text: String
        var column: Int
    }

    /// Splits on blanks outside quotes; `#` outside quotes starts a comment.
    static func tokenize(_ text: String, line: Int) throws(WireTextError) -> [Token] {
        var tokens: [Token] = []
        var current = ""
        var start = 0
        var inQuotes = false
        var escaped = false
        var column = 0
        var quoteColumn = 0
        for character in text {
            column += 1
            if inQuotes {
                current.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inQuotes = false }
                continue
            }
            if character == "#" { break }
            if character == " " || character == "\t" || character == "\r" {
                if !current.isEmpty { tokens.append(Token(text: current, column: start)) }
                current = ""
                continue
            }
            if current.isEmpty { start = column }
            if character == "\"" {
                inQuotes = true
                quoteColumn = column
            }
            current.append(character)
        }
        if inQuotes { throw WireTextError(line: line, column: quoteColumn, "a quoted string is not closed") }
        if !current.isEmpty { tokens.append(Token(text: current, column: start)) }
        return tokens
    }

    /// The `name=value` fields of a line, taken one by one; `finish` rejects any left over.
    struct Fields {
        var entries: [(name: String, value: String, column: Int)]
        let line: Int
        let lineLength: Int

        init(_ tokens: [Token], line: Int, lineLength: Int) throws(WireTextError) {
            self.line = line
            self.lineLength = lineLength
            entries = []
            for token in tokens {
                guard let equals = token.text.firstIndex(of: "="), equals != token.text.startIndex else {
                    throw WireTextError(line: line, column: token.column, "\"\(token.text)\" is not a field (name=value)")
                }
                let name = String(token.text[..<equals])
                if entries.contains(where: { $0.name == name }) {
                    throw WireTextError(line: line, column: token.column, "field \(name) appears twice")
                }
                entries.append((name, String(token.text[token.text.index(after: equals)...]), token.column))
            }
        }

        func has(_ name: String) -> Bool { entries.contains { $0.name == name } }

        mutating func take(_ name: String) -> (value: String, column: Int)? {
            guard let index = entries.firstIndex(where: { $0.name == name }) else { return nil }
            let entry = entries.remove(at: index)
            return (entry.value, entry.column)
        }

        func error(_ column: Int, _ message: String) -> WireTextError {
            WireTextError(line: line, column: column, message)
        }

        mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ name: String, as: T.Type) throws(WireTextError) -> T? {
            guard let (value, column) = take(name) else { return nil }
            guard let parsed = Integer.parse(value, as: T.self) else {
                throw error(column, "\(name)=\(value) is not a number from 0 to \(T.max) (decimal or 0x hex)")
            }
            return parsed
        }

        mutating func required<T: FixedWidthInteger & UnsignedInteger>(_ name: String, as: T.Type) throws(WireTextError) -> T {
            guard let value = try integer(name, as: T.self) else { throw error(lineLength + 1, "field \(name) is missing") }
            return value
        }

        mutating func bytes(_ name: String, required: Bool, allowCut: Bool) throws(WireTextError) -> [UInt8] {
            guard let (value, column) = take(name) else {
                if required { throw error(lineLength + 1, "field \(name) is missing") }
                return []
            }
            let (bytes, cut) = try ByteField.parse(value, line: line, column: column + name.count + 1)
            if cut && !allowCut {
                throw error(column, "\(name) was cut short for display (…); decode again showing it whole to reproduce it")
            }
            return bytes
        }

        mutating func flags(type: FrameType) throws(WireTextError) -> UInt8 {
            guard let (value, column) = take("flags") else { return 0 }
            var flags: UInt8 = 0
            for part in value.split(separator: "|", omittingEmptySubsequences: false) {
                if let bit = WireTextFormat.flagNames(type).first(where: { $0.0 == part })?.1 {
                    flags |= bit
                } else if let number = Integer.parse(String(part), as: UInt8.self) {
                    flags |= number
                } else {
                    let known = WireTextFormat.flagNames(type).map(\.0)
                    throw error(column, "\"\(part)\" is not a flag of \(type.name) (\(known.isEmpty ? "it defines none" : known.joined(separator: ", ")); or a number)")
                }
            }
            return flags
        }

        mutating func code() throws(WireTextError) -> UInt32 {
            guard let (value, column) = take("code") else {
                throw error(lineLength + 1, "field code is missing")
            }
            if let code = ErrorCode(name: value) { return code.rawValue }
            if let number = Integer.parse(value, as: UInt32.self) { return number }
            throw error(column, "code=\(value) is neither an error code name of spec §9.1 nor a number")
        }

        mutating func kind() throws(WireTextError) -> UInt8 {
            guard let (value, column) = take("kind") else { throw error(lineLength + 1, "field kind is missing") }
            for code in UInt8(1)...UInt8(4) where StreamKind(rawValue: code).name == value { return code }
            if value.hasPrefix("KIND("), value.hasSuffix(")"), let code = Integer.parse(String(value.dropFirst(5).dropLast()), as: UInt8.self) {
                return code
            }
            if let code = Integer.parse(value, as: UInt8.self) { return code }
            throw error(column, "kind=\(value) is not TCP, HTTP, CONTROL, HTTP2, KIND(0x..) or a number")
        }

        /// `meta:KEY=VALUE` fields, in line order. Keys are written as given (crafting bad ones is allowed).
        mutating func metadata() throws(WireTextError) -> [(String, [UInt8])] {
            var entries: [(String, [UInt8])] = []
            while let index = self.entries.firstIndex(where: { $0.name.hasPrefix("meta:") }) {
                let entry = self.entries.remove(at: index)
                let key = String(entry.name.dropFirst(5))
                guard !key.isEmpty, key.utf8.count <= WireLimits.maxMetadataKeyLength else {
                    throw error(entry.column, "a metadata key must have 1 to \(WireLimits.maxMetadataKeyLength) octets")
                }
                let (value, cut) = try ByteField.parse(entry.value, line: line, column: entry.column + entry.name.count + 1)
                if cut { throw error(entry.column, "metadata value of \(key) was cut short for display (…)") }
                guard value.count <= Int(UInt16.max) else { throw error(entry.column, "a metadata value has at most 65,535 octets") }
                entries.append((key, value))
            }
            return entries
        }

        /// HELLO settings: `NAME=VALUE` or `SETTING(0xID)=VALUE`, in line order.
        mutating func settings() throws(WireTextError) -> [(UInt16, UInt32)] {
            var settings: [(UInt16, UInt32)] = []
            for entry in entries {
                let id: UInt16
                if let known = SettingID.known.first(where: { $0.name == entry.name })?.rawValue {
                    id = known
                } else if entry.name.hasPrefix("SETTING("), entry.name.hasSuffix(")"),
                          let number = Integer.parse(String(entry.name.dropFirst(8).dropLast()), as: UInt16.self) {
                    id = number
                } else {
                    continue
                }
                guard let value = Integer.parse(entry.value, as: UInt32.self) else {
                    throw error(entry.column, "setting \(entry.name)=\(entry.value) is not a number from 0 to \(UInt32.max)")
                }
                settings.append((id, value))
            }
            entries.removeAll { entry in
                SettingID.known.contains { $0.name == entry.name } || entry.name.hasPrefix("SETTING(")
            }
            return settings
        }

        func finish(after type: String) throws(WireTextError) {
            if let extra = entries.first {
                throw error(extra.column, "unknown field \"\(extra.name)\" for \(type)")
            }
        }
    }
}

/// Numbers of the text form: decimal, or hex with `0x`.
enum Integer {
    static func parse<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as: T.Type) -> T? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = text.dropFirst(2)
            guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
            return T(digits, radix: 16)
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return T(text, radix: 10)
    }
}

/// Byte fields of the text form: `"text"` (escapes `\r \n \t \" \\ \xHH`), `0x` hex, optionally
/// followed by `…` when decode cut them for display.
enum ByteField {
    static func parse(_ text: String, line: Int, column: Int) throws(WireTextError) -> (bytes: [UInt8], cut: Bool) {
        var body = Substring(text)
        var cut = false
        if body.hasSuffix("…") {
            cut = true
            body = body.dropLast()
        }
        if body.hasPrefix("0x") {
            let digits = Array(body.dropFirst(2).utf8)
            guard digits.count % 2 == 0, let bytes = Hex.decode(digits) else {
                throw WireTextError(line: line, column: column, "\(text) is not hex (an even number of digits after 0x)")
            }
            return (bytes, cut)
        }
        guard body.count >= 2, body.hasPrefix("\""), body.hasSuffix("\"") else {
            throw WireTextError(line: line, column: column, "\(text) is neither a \"quoted string\" nor 0x hex")
        }
        var bytes: [UInt8] = []
        var scalars = body.dropFirst().dropLast().unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "\\" else {
                bytes += Array(String(scalar).utf8)
                continue
            }
            switch scalars.next() {
            case "r": bytes.append(0x0D)
            case "n": bytes.append(0x0A)
            case "t": bytes.append(0x09)
            case "\"": bytes.append(0x22)
            case "\\": bytes.append(0x5C)
            case "x":
                guard let high = scalars.next(), let low = scalars.next(),
                      let byte = UInt8(String(high) + String(low), radix: 16) else {
                    throw WireTextError(line: line, column: column, "\\x needs two hex digits in \(text)")
                }
                bytes.append(byte)
            default:
                throw WireTextError(line: line, column: column, "unknown escape in \(text) (\\r \\n \\t \\\" \\\\ \\xHH)")
            }
        }
        return (bytes, cut)
    }
}

/// Hex digits to octets.
enum Hex {
    static func decode(_ digits: [UInt8]) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
