import NIOCore

/// Parses field lines (RFC 9112 §5): `field-name ":" OWS field-value OWS CRLF`. `parse` reads a block
/// whose line endings `FieldBlockScanner` already checked, so every CR there starts a CRLF;
/// `wellFormedBlock` reads input the scanner has not seen, and takes only what it would accept.
enum FieldLineParser {
    /// The field slots reserved at once for a block (a typical request or response has 2 to 12).
    static let expectedFieldCount = 16

    /// The field lines from octet `start` of `block` up to the empty line. `offsetBase` is added to error offsets.
    static func parse(_ block: ByteBuffer, from start: Int, offsetBase: Int) throws(HTTP1ParseError) -> [HTTPHeaderFields.Slot] {
        // Read through a raw pointer: this checks every octet of every head on the agent and the
        // laptop, and indexing a buffer view costs a bounds check and a retain per octet.
        let result = block.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTP1ParseError) in try parse(bytes, from: start, offsetBase: offsetBase) }
        }
        return try result.get()
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, offsetBase: Int) throws(HTTP1ParseError) -> [HTTPHeaderFields.Slot] {
        var slots: [HTTPHeaderFields.Slot] = []
        // Most heads carry fewer fields than this: one allocation instead of one per doubling.
        slots.reserveCapacity(Self.expectedFieldCount)
        var lineStart = start
        while true {
            if bytes[lineStart] == HTTPSyntax.cr { return slots }
            if let (slot, next) = wellFormedLine(bytes, from: lineStart) {
                slots.append(slot)
                lineStart = next
                continue
            }
            let lineEnd = bytes[lineStart...].firstIndex(of: HTTPSyntax.cr)!
            slots.append(try checkedLine(bytes, lineStart..<lineEnd, offsetBase: offsetBase))
            lineStart = lineEnd + 2
        }
    }

    /// A well-formed field line read in one pass: token octets up to the colon, blanks, then value
    /// octets up to the CR and its LF, trailing blanks left out of the value. Nil for anything else,
    /// which `checkedLine` reads again to name the error, and for a line that does not end within
    /// `bytes` (a head read in one pass before the scanner saw it whole).
    @inline(__always)
    static func wellFormedLine(_ bytes: UnsafeRawBufferPointer, from lineStart: Int) -> (HTTPHeaderFields.Slot, Int)? {
        let count = bytes.count
        var index = lineStart
        while index < count && HTTPSyntax.isTokenOctet(bytes[index]) { index += 1 }
        guard index > lineStart, index < count, bytes[index] == HTTPSyntax.colon else { return nil }
        let colon = index
        index += 1
        while index < count && HTTPSyntax.isWhitespace(bytes[index]) { index += 1 }
        let valueStart = index
        var valueEnd = index
        while index < count {
            let byte = bytes[index]
            if byte > HTTPSyntax.sp && byte != 0x7F {
                index += 1
                valueEnd = index
            } else if byte == HTTPSyntax.sp || byte == HTTPSyntax.htab {
                index += 1
            } else if byte == HTTPSyntax.cr && index + 1 < count && bytes[index + 1] == HTTPSyntax.lf {
                let name = lineStart..<colon
                return (HTTPHeaderFields.Slot(name: name, value: valueStart..<valueEnd, known: KnownFieldName.of(bytes, name)), index + 2)
            } else {
                return nil
            }
        }
        return nil
    }

    /// The field lines from octet `start` of `bytes` up to and including the empty line, read in one
    /// pass when every line is well formed, the empty line is there, and the block (from octet 0)
    /// is within `maxSize` octets with at most `maxFields` lines: where the block ends, and the lines.
    /// Nil otherwise, and the scanner reads the head as it comes, naming the first error or waiting
    /// for the rest; what it accepts from the same octets is what this returns.
    static func wellFormedBlock(
        _ bytes: UnsafeRawBufferPointer, from start: Int, maxFields: Int, maxSize: Int
    ) -> (end: Int, slots: [HTTPHeaderFields.Slot])? {
        let count = min(bytes.count, maxSize)
        let bounded = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
        var slots: [HTTPHeaderFields.Slot] = []
        slots.reserveCapacity(Self.expectedFieldCount)
        var lineStart = start
        while lineStart < count {
            if bounded[lineStart] == HTTPSyntax.cr {
                guard lineStart + 1 < count, bounded[lineStart + 1] == HTTPSyntax.lf else { return nil }
                return (lineStart + 2, slots)
            }
            guard slots.count < maxFields, let (slot, next) = wellFormedLine(bounded, from: lineStart) else { return nil }
            slots.append(slot)
            lineStart = next
        }
        return nil
    }

    static func checkedLine(
        _ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, offsetBase: Int
    ) throws(HTTP1ParseError) -> HTTPHeaderFields.Slot {
        func fail(_ kind: HTTP1ParseError.Kind, _ at: Int, _ detail: String) -> HTTP1ParseError {
            HTTP1ParseError(kind, offset: offsetBase + at, detail: detail)
        }
        if HTTPSyntax.isWhitespace(bytes[line.lowerBound]) {
            throw fail(.obsoleteLineFolding, line.lowerBound, "field line starts with whitespace (obs-fold)")
        }
        guard let colon = bytes[line].firstIndex(of: HTTPSyntax.colon) else {
            throw fail(.missingColon, line.lowerBound, "field line without a colon")
        }
        if colon == line.lowerBound {
            throw fail(.emptyFieldName, colon, "empty field name")
        }
        if HTTPSyntax.isWhitespace(bytes[colon - 1]) {
            throw fail(.whitespaceBeforeColon, colon - 1, "whitespace between field name and colon")
        }
        for position in line.lowerBound..<colon where !HTTPSyntax.isTokenByte(bytes[position]) {
            throw fail(.invalidFieldName, position, "octet 0x\(hex(bytes[position])) in a field name")
        }
        var valueStart = colon + 1
        var valueEnd = line.upperBound
        while valueStart < valueEnd, HTTPSyntax.isWhitespace(bytes[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, HTTPSyntax.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
        for position in valueStart..<valueEnd where !HTTPSyntax.isFieldValueByte(bytes[position]) {
            throw fail(.invalidFieldValue, position, "control octet 0x\(hex(bytes[position])) in a field value")
        }
        let name = line.lowerBound..<colon
        return HTTPHeaderFields.Slot(name: name, value: valueStart..<valueEnd, known: KnownFieldName.of(bytes, name))
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
