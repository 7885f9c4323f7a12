import NIOCore

/// Delimits one message body on a connection, fed input in pieces of any size, so the edge can pass the
/// body on verbatim and then parse the next message from where it ends.
///
/// Each `next(_:)` consumes octets of the input and reports them as one event. Forwarding the bytes of
/// every `.body` and `.framing` event, in order, reproduces the message's body octets exactly as
/// received; `.end` says the message is over and the input's reader index is at the next message. Body
/// data is sliced from the input, never copied; chunk syntax is released only once validated (a chunk
/// line split across inputs is held until its CRLF arrives).
public struct BodyFramer: Sendable {
    public enum Event: Sendable {
        /// Body data: payload octets (Content-Length, close-delimited, or a chunk's data).
        case body(ByteBuffer)
        /// Validated chunk syntax: a chunk-size line, the CRLF after chunk data, or the trailer section.
        case framing(ByteBuffer)
        /// The message is complete; trailer fields of a chunked message, when it had any.
        case end(trailers: HTTPHeaderFields?)

        /// The octets to forward for this event, nil for `.end`.
        public var wireBytes: ByteBuffer? {
            switch self {
            case .body(let bytes), .framing(let bytes): bytes
            case .end: nil
            }
        }
    }

    private enum State: Sendable {
        case fixed(remaining: Int64)
        case chunkLine
        case chunkData(remaining: Int64)
        case chunkDataEnd(sawCR: Bool)
        /// Boxed: the scanner is most of the state's size, and trailers are rare; every framer of every
        /// exchange carried it inline (280 octets, copied on each exchange's start).
        indirect case trailers(FieldBlockScanner)
        case closeDelimited
        case ending(trailers: HTTPHeaderFields?)
        case done
    }

    public let limits: HTTP1Limits
    private var state: State
    /// Body octets consumed so far: the base of error offsets.
    private(set) public var consumed = 0
    /// A chunk-size line split across inputs, and how far it has been scanned.
    private var partialLine: ByteBuffer?
    private var lineLength = 0
    private var lineCRPending = false
    private var failure: HTTP1ParseError?

    public init(framing: BodyFraming, limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        switch framing {
        case .none, .contentLength(0): state = .ending(trailers: nil)
        case .contentLength(let length): state = .fixed(remaining: length)
        case .chunked: state = .chunkLine
        case .closeDelimited: state = .closeDelimited
        }
    }

    /// True once `.end` has been returned.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// The next event, consuming its octets from `input`; nil when `input` is exhausted (or the message
    /// is over) and more is needed.
    public mutating func next(_ input: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        if let failure { throw failure }
        do {
            return try step(&input)
        } catch {
            failure = error
            throw error
        }
    }

    /// The peer closed its sending side: ends a close-delimited body, and is an error anywhere else
    /// before the end.
    public mutating func inputEnded() throws(HTTP1ParseError) -> Event? {
        if let failure { throw failure }
        switch state {
        case .closeDelimited:
            state = .done
            return .end(trailers: nil)
        case .ending(let trailers):
            state = .done
            return .end(trailers: trailers)
        case .done:
            return nil
        default:
            let error = HTTP1ParseError(.truncatedMessage, offset: consumed, detail: "connection closed inside a message body")
            failure = error
            throw error
        }
    }

    private mutating func step(_ input: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        switch state {
        case .done:
            return nil
        case .ending(let trailers):
            state = .done
            return .end(trailers: trailers)
        case .fixed(let remaining):
            guard let data = take(&input, upTo: remaining) else { return nil }
            let left = remaining - Int64(data.readableBytes)
            state = left == 0 ? .ending(trailers: nil) : .fixed(remaining: left)
            return .body(data)
        case .closeDelimited:
            guard let data = take(&input, upTo: .max) else { return nil }
            return .body(data)
        case .chunkData(let remaining):
            guard let data = take(&input, upTo: remaining) else { return nil }
            let left = remaining - Int64(data.readableBytes)
            state = left == 0 ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: left)
            return .body(data)
        case .chunkDataEnd(let sawCR):
            // The CRLF is released whole: a lone CR is held (not forwarded) until its LF arrives, so
            // what is forwarded before an error does not depend on where the input was cut.
            guard let byte = input.readableBytesView.first else { return nil }
            if sawCR {
                guard byte == HTTPSyntax.lf else { throw missingCRLF() }
                _ = take(&input, upTo: 1)
                state = .chunkLine
                return .framing(ByteBuffer(bytes: [HTTPSyntax.cr, HTTPSyntax.lf]))
            }
            guard byte == HTTPSyntax.cr else { throw missingCRLF() }
            guard input.readableBytes >= 2 else {
                _ = take(&input, upTo: 1)
                state = .chunkDataEnd(sawCR: true)
                return try step(&input)
            }
            guard input.readableBytesView.dropFirst().first == HTTPSyntax.lf else { throw missingCRLF(at: consumed + 1) }
            state = .chunkLine
            return .framing(take(&input, upTo: 2)!)
        case .chunkLine:
            let lineStart = consumed - (partialLine?.readableBytes ?? 0)
            guard let line = try scanChunkLine(&input) else { return nil }
            let size = try Self.parseChunkLine(line.readableBytesView, offset: lineStart, limits: limits)
            if size == 0 {
                state = .trailers(FieldBlockScanner(kind: .trailers, limits: limits, offsetBase: consumed))
            } else {
                state = .chunkData(remaining: size)
            }
            return .framing(line)
        case .trailers(var scanner):
            let before = input.readableBytes
            let block = try scanner.scan(&input)
            consumed += before - input.readableBytes
            guard let block else {
                state = .trailers(scanner)
                return nil
            }
            let trailerStart = scanner.offsetBase
            let fields = HTTPHeaderFields(storage: block, slots: try FieldLineParser.parse(block, from: 0, offsetBase: trailerStart))
            for index in fields.indices {
                let name = fields[index]
                if name.hasName("content-length") || name.hasName("transfer-encoding") || name.hasName("host") {
                    throw HTTP1ParseError(.forbiddenTrailerField, offset: trailerStart + fields.ranges(at: index).name.lowerBound,
                                          detail: "\(name.nameString) is not allowed in a trailer section")
                }
            }
            state = .ending(trailers: fields.isEmpty ? nil : fields)
            return .framing(block)
        }
    }

    /// Slices up to `limit` octets off `input`; nil when it is empty.
    private mutating func take(_ input: inout ByteBuffer, upTo limit: Int64) -> ByteBuffer? {
        guard input.readableBytes > 0 else { return nil }
        let count = Int(min(Int64(input.readableBytes), limit))
        consumed += count
        return input.readSlice(length: count)
    }

    private func missingCRLF(at offset: Int? = nil) -> HTTP1ParseError {
        HTTP1ParseError(.missingCRLFAfterChunkData, offset: offset ?? consumed, detail: "chunk data not followed by CRLF")
    }

    /// Consumes octets up to a chunk line's CRLF; returns the whole line (CRLF included) once complete.
    private mutating func scanChunkLine(_ input: inout ByteBuffer) throws(HTTP1ParseError) -> ByteBuffer? {
        let view = input.readableBytesView
        let lineStart = consumed - (partialLine?.readableBytes ?? 0)
        for index in view.indices {
            let byte = view[index]
            let position = consumed + index - view.startIndex
            if lineCRPending {
                guard byte == HTTPSyntax.lf else {
                    throw HTTP1ParseError(.bareCarriageReturn, offset: position - 1, detail: "CR not followed by LF in a chunk line")
                }
                let count = index + 1 - view.startIndex
                consumed += count
                var tail = input.readSlice(length: count)!
                lineCRPending = false
                lineLength = 0
                guard var line = partialLine else { return tail }
                partialLine = nil
                line.writeBuffer(&tail)
                return line
            }
            if byte == HTTPSyntax.cr {
                lineCRPending = true
            } else if byte == HTTPSyntax.lf {
                throw HTTP1ParseError(.bareLineFeed, offset: position, detail: "LF not preceded by CR in a chunk line")
            } else {
                lineLength += 1
                if lineLength > limits.maxChunkLineLength {
                    throw HTTP1ParseError(.chunkLineTooLong, offset: lineStart,
                                          detail: "chunk line longer than \(limits.maxChunkLineLength) octets")
                }
            }
        }
        consumed += input.readableBytes
        var rest = input.readSlice(length: input.readableBytes)!
        if partialLine == nil {
            partialLine = rest
        } else {
            partialLine!.writeBuffer(&rest)
        }
        return nil
    }

    /// `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1, §7.1.1): 1*HEXDIG, no sign, no `0x`, no leading
    /// whitespace; then `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`.
    static func parseChunkLine(_ line: ByteBufferView, offset: Int, limits: HTTP1Limits) throws(HTTP1ParseError) -> Int64 {
        let bytes = Array(line.dropLast(2))
        var index = 0
        var size: Int64 = 0
        while index < bytes.count, let digit = HTTPSyntax.hexValue(bytes[index]) {
            guard size <= (limits.maxChunkSize - Int64(digit)) / 16 else {
                throw HTTP1ParseError(.chunkSizeTooLarge, offset: offset, detail: "chunk-size exceeds \(limits.maxChunkSize)")
            }
            size = size * 16 + Int64(digit)
            index += 1
        }
        if index == 0 || (index < bytes.count && !HTTPSyntax.isWhitespace(bytes[index]) && bytes[index] != UInt8(ascii: ";")) {
            throw HTTP1ParseError(.invalidChunkSize, offset: offset + index, detail: "chunk-size is not a hexadecimal number")
        }
        func failExtension() -> HTTP1ParseError {
            HTTP1ParseError(.invalidChunkExtension, offset: offset + index, detail: "malformed chunk extension")
        }
        func skipWhitespace() {
            while index < bytes.count, HTTPSyntax.isWhitespace(bytes[index]) { index += 1 }
        }
        func skipToken() throws(HTTP1ParseError) {
            let start = index
            while index < bytes.count, HTTPSyntax.isTokenByte(bytes[index]) { index += 1 }
            if index == start { throw failExtension() }
        }
        while index < bytes.count {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ";") else { throw failExtension() }
            index += 1
            skipWhitespace()
            try skipToken()
            let afterName = index
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else {
                index = afterName
                continue
            }
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while true {
                    guard index < bytes.count else { throw failExtension() }
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\"") { index += 1; break }
                    if byte == UInt8(ascii: "\\") {
                        index += 1
                        guard index < bytes.count, HTTPSyntax.isFieldValueByte(bytes[index]) else { throw failExtension() }
                    } else if !HTTPSyntax.isFieldValueByte(byte) {
                        throw failExtension()
                    }
                    index += 1
                }
            } else {
                try skipToken()
            }
        }
        return size
    }
}
