import NIOCore

/// Finds where a head (start line and field lines) or a trailer section ends, fed input in pieces of
/// any size, and refuses the line-level smuggling vectors as soon as the offending octet arrives:
/// bare CR, bare LF, NUL, too many leading empty lines, too large, too many field lines, and an
/// over-long request-target. Octets are checked one by one in arrival order, so the outcome never
/// depends on how the input was split.
struct FieldBlockScanner: Sendable {
    enum Kind: Sendable {
        case requestHead, responseHead, trailers
    }

    let kind: Kind
    let maxSize: Int
    let maxFields: Int
    let maxLeadingEmptyLines: Int
    let maxTargetLength: Int
    /// Added to every error offset: where this block starts in the message part being parsed.
    let offsetBase: Int

    /// The block so far when it spans several inputs.
    private var partial: ByteBuffer?
    private var inLeadingEmptyLines: Bool
    private var leadingCR = false
    private var leadingLines = 0
    /// Octets of leading empty lines consumed and dropped.
    private(set) var skipped = 0
    /// Octets of the block scanned so far.
    private var length = 0
    private var lineStart = 0
    private var crPending = false
    private var completedLines = 0
    private var startLineSpaces = 0
    private var targetStart = 0

    /// Nothing has been fed yet.
    var isFresh: Bool { partial == nil && length == 0 && skipped == 0 && !leadingCR }

    init(kind: Kind, limits: HTTP1Limits, offsetBase: Int = 0) {
        self.kind = kind
        self.offsetBase = offsetBase
        switch kind {
        case .requestHead:
            maxSize = limits.maxHeadSize
            maxLeadingEmptyLines = limits.maxLeadingEmptyLines
            maxTargetLength = limits.maxRequestTargetLength
        case .responseHead:
            maxSize = limits.maxHeadSize
            maxLeadingEmptyLines = 0
            maxTargetLength = .max
        case .trailers:
            maxSize = limits.maxTrailerSize
            maxLeadingEmptyLines = 0
            maxTargetLength = .max
        }
        maxFields = limits.maxHeaderCount
        inLeadingEmptyLines = kind != .trailers
    }

    /// Consumes octets of `input` up to the end of the block. Returns the whole block (start line through
    /// the empty line's CRLF, leading empty lines dropped) once it is complete, leaving the octets after it
    /// in `input`; returns nil after consuming all of `input` when the block is not complete yet.
    mutating func scan(_ input: inout ByteBuffer) throws(HTTP1ParseError) -> ByteBuffer? {
        // The octets are walked through a raw pointer: this runs over every head and trailer section
        // on the agent and the laptop, and indexing a buffer view costs a bounds check and a
        // retain per octet.
        var failure: HTTP1ParseError?
        let (blockStart, blockEnd): (Int, Int?) = input.withUnsafeReadableBytes { bytes -> (Int, Int?) in
            do throws(HTTP1ParseError) {
                return try walk(bytes)
            } catch {
                failure = error
                return (0, nil)
            }
        }
        if let failure { throw failure }
        if let blockEnd {
            input.moveReaderIndex(forwardBy: blockStart)
            var tail = input.readSlice(length: blockEnd - blockStart)!
            guard var block = partial else { return tail }
            block.writeBuffer(&tail)
            partial = nil
            return block
        }
        input.moveReaderIndex(forwardBy: blockStart)
        if input.readableBytes > 0 {
            var rest = input.readSlice(length: input.readableBytes)!
            if partial == nil {
                partial = rest
            } else {
                partial!.writeBuffer(&rest)
            }
        }
        return nil
    }

    /// Walks `bytes` (the readable octets): where the block's octets start in them (after leading
    /// empty lines), and where it ends (just after the empty line's LF), or nil when it does not end
    /// within them.
    private mutating func walk(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (Int, Int?) {
        var index = 0
        var blockStart = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if inLeadingEmptyLines {
                if try scanLeading(byte) {
                    index += 1
                    blockStart = index
                    continue
                }
                inLeadingEmptyLines = false
            }
            if !crPending && byte > HTTPSyntax.cr && length < maxSize && (kind != .requestHead || completedLines > 0) {
                // A run of common octets in a field line: nothing to check in it but the size limit
                // (the octet that reaches it is refused below), so it is skipped in a tight loop.
                let end = min(count, index + (maxSize - length))
                var next = index + 1
                // Eight octets at a time while none of them is a control up to CR, then one by one.
                while next + 8 <= end,
                      !HTTPSyntax.hasOctetUpToCR(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: next, as: UInt64.self))) {
                    next += 8
                }
                while next < end && bytes[next] > HTTPSyntax.cr { next += 1 }
                length += next - index
                index = next
                continue
            }
            let position = length
            if position >= maxSize {
                throw error(kind == .trailers ? .trailerTooLarge : .headTooLarge, at: position,
                            "\(kind == .trailers ? "trailer section" : "head") exceeds \(maxSize) octets")
            }
            length += 1
            index += 1
            if crPending {
                guard byte == HTTPSyntax.lf else {
                    throw error(.bareCarriageReturn, at: position - 1, "CR not followed by LF")
                }
                crPending = false
                let lineLength = position - 1 - lineStart
                if lineLength == 0 {
                    // The empty line ends the block (a start line is never empty: leading CRLFs were skipped).
                    return (blockStart, index)
                }
                completedLines += 1
                let fields = kind == .trailers ? completedLines : completedLines - 1
                if fields > maxFields {
                    throw error(.tooManyFields, at: lineStart, "more than \(maxFields) field lines")
                }
                lineStart = position + 1
            } else if byte > HTTPSyntax.cr {
                // The common octet: nothing to check but the request-target's length.
                if kind == .requestHead && completedLines == 0 { try trackTarget(byte, at: position) }
            } else if byte == HTTPSyntax.cr {
                crPending = true
            } else if byte == HTTPSyntax.lf {
                throw error(.bareLineFeed, at: position, "LF not preceded by CR")
            } else if byte == 0 {
                throw error(.nulByte, at: position, "NUL octet")
            } else if kind == .requestHead && completedLines == 0 {
                try trackTarget(byte, at: position)
            }
        }
        return (blockStart, nil)
    }

    /// Tracks the request-target so an over-long one is a 414 before the head limit is reached.
    private mutating func trackTarget(_ byte: UInt8, at position: Int) throws(HTTP1ParseError) {
        if byte == HTTPSyntax.sp {
            startLineSpaces += 1
            if startLineSpaces == 1 { targetStart = position + 1 }
        } else if startLineSpaces == 1 && position + 1 - targetStart > maxTargetLength {
            throw error(.requestTargetTooLong, at: targetStart,
                        "request-target longer than \(maxTargetLength) octets")
        }
    }

    /// Consumes one octet of a leading empty line; false when `byte` starts the block itself.
    private mutating func scanLeading(_ byte: UInt8) throws(HTTP1ParseError) -> Bool {
        if leadingCR {
            guard byte == HTTPSyntax.lf else {
                throw error(.bareCarriageReturn, at: skipped - 1, "CR not followed by LF", base: offsetBase)
            }
            leadingCR = false
            skipped += 1
            leadingLines += 1
            if leadingLines > maxLeadingEmptyLines {
                throw error(.tooManyLeadingEmptyLines, at: skipped - 2,
                            "more than \(maxLeadingEmptyLines) empty lines before the start line", base: offsetBase)
            }
            return true
        }
        switch byte {
        case HTTPSyntax.cr:
            leadingCR = true
            skipped += 1
            return true
        case HTTPSyntax.lf:
            throw error(.bareLineFeed, at: skipped, "LF not preceded by CR", base: offsetBase)
        default:
            return false
        }
    }

    /// An error at `position` octets into the block.
    private func error(_ kind: HTTP1ParseError.Kind, at position: Int, _ detail: String) -> HTTP1ParseError {
        error(kind, at: position, detail, base: offsetBase + skipped)
    }

    private func error(_ kind: HTTP1ParseError.Kind, at position: Int, _ detail: String, base: Int) -> HTTP1ParseError {
        HTTP1ParseError(kind, offset: base + position, detail: detail)
    }
}
