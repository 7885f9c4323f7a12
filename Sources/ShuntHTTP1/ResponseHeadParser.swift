import NIOCore

/// Parses response heads from an upstream connection (app or tunnel), fed input in pieces of any size.
///
/// The body rules need the request: pass its method, and whether it asked to upgrade, with each call.
/// After an interim (1xx) head, call again for the next head of the same exchange. Any error means the
/// edge answers its client `502 Bad Gateway` and closes both sides.
public struct ResponseHeadParser: Sendable {
    public let limits: HTTP1Limits
    private var scanner: FieldBlockScanner
    private var failure: HTTP1ParseError?

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        self.scanner = FieldBlockScanner(kind: .responseHead, limits: limits)
    }

    public mutating func parse(
        _ input: inout ByteBuffer, requestMethod: HTTPMethod, requestedUpgrade: Bool = false
    ) throws(HTTP1ParseError) -> ResponseHead? {
        if let failure { throw failure }
        do {
            // A whole head in the input with well-formed field lines is read in one pass; else the
            // scanner reads it.
            if scanner.isFresh, let (block, lineEnd, slots) = Self.wellFormedBlock(&input, limits: limits) {
                return try Self.parseHead(block, lineEnd: lineEnd, slots: slots, requestMethod: requestMethod,
                                          requestedUpgrade: requestedUpgrade)
            }
            guard let block = try scanner.scan(&input) else { return nil }
            scanner = FieldBlockScanner(kind: .responseHead, limits: limits)
            return try Self.parseHead(block, requestMethod: requestMethod, requestedUpgrade: requestedUpgrade)
        } catch {
            failure = error
            throw error
        }
    }

    /// The head at the start of `input`, when it is all there with its status-line free of the
    /// octets the scanner refuses (NUL, a CR or LF not in CRLF), every field line well formed, within
    /// the size and field limits: taken from `input`, with where its status-line ends and its field
    /// lines, in one pass. Nil for any other input, left as it was for the scanner, which names the
    /// first error or waits for the rest. The status-line is then checked as the scanner's block's is.
    static func wellFormedBlock(_ input: inout ByteBuffer, limits: HTTP1Limits) -> (ByteBuffer, Int, [HTTPHeaderFields.Slot])? {
        let found = input.withUnsafeReadableBytes { bytes -> (lineEnd: Int, end: Int, slots: [HTTPHeaderFields.Slot])? in
            let count = min(bytes.count, limits.maxHeadSize)
            var lineEnd = 0
            while lineEnd < count && bytes[lineEnd] != HTTPSyntax.cr {
                guard bytes[lineEnd] != 0 && bytes[lineEnd] != HTTPSyntax.lf else { return nil }
                lineEnd += 1
            }
            guard lineEnd > 0, lineEnd + 1 < count, bytes[lineEnd + 1] == HTTPSyntax.lf,
                  let fields = FieldLineParser.wellFormedBlock(bytes, from: lineEnd + 2, maxFields: limits.maxHeaderCount,
                                                               maxSize: limits.maxHeadSize)
            else { return nil }
            return (lineEnd, fields.end, fields.slots)
        }
        guard let found else { return nil }
        return (input.readSlice(length: found.end)!, found.lineEnd, found.slots)
    }

    static func parseHead(_ block: ByteBuffer, requestMethod: HTTPMethod, requestedUpgrade: Bool) throws(HTTP1ParseError) -> ResponseHead {
        let lineEnd = block.readableBytesView.firstIndex(of: HTTPSyntax.cr)! - block.readerIndex
        return try parseHead(block, lineEnd: lineEnd, slots: nil, requestMethod: requestMethod, requestedUpgrade: requestedUpgrade)
    }

    /// The head of `block`, its status-line ending at `lineEnd`; its field lines are read after the
    /// status-line is checked, unless `slots` has them already.
    static func parseHead(
        _ block: ByteBuffer, lineEnd: Int, slots: [HTTPHeaderFields.Slot]?, requestMethod: HTTPMethod, requestedUpgrade: Bool
    ) throws(HTTP1ParseError) -> ResponseHead {
        let view = block.readableBytesView
        let base = view.startIndex
        // status-line = HTTP-version SP 3DIGIT SP reason-phrase; a missing SP before an empty reason is accepted.
        // Read in place (a copy of the line would cost an allocation per response).
        func octet(_ position: Int) -> UInt8 { view[base + position] }
        guard lineEnd >= 8, lineEnd == 8 || octet(8) == HTTPSyntax.sp else {
            throw HTTP1ParseError(.malformedStatusLine, offset: 0, detail: "status-line does not start with an HTTP version and SP")
        }
        // `HTTP/1.1` and `HTTP/1.0` are recognized octet by octet; anything else is named by parseVersion.
        let version: HTTPVersion
        if octet(0) == UInt8(ascii: "H") && octet(1) == UInt8(ascii: "T") && octet(2) == UInt8(ascii: "T") && octet(3) == UInt8(ascii: "P")
            && octet(4) == UInt8(ascii: "/") && octet(5) == UInt8(ascii: "1") && octet(6) == UInt8(ascii: ".")
            && (octet(7) == UInt8(ascii: "1") || octet(7) == UInt8(ascii: "0")) {
            version = octet(7) == UInt8(ascii: "1") ? .http11 : .http10
        } else {
            version = try RequestHeadParser.parseVersion(view[base..<(base + 8)], offset: 0)
        }
        guard lineEnd >= 12, (9..<12).allSatisfy({ HTTPSyntax.isDigit(octet($0)) }), lineEnd == 12 || octet(12) == HTTPSyntax.sp else {
            throw HTTP1ParseError(.malformedStatusLine, offset: 9, detail: "status-line has no 3-digit status code followed by SP")
        }
        let status = (9..<12).reduce(0) { $0 * 10 + Int(octet($1) - UInt8(ascii: "0")) }
        guard status >= 100 else {
            throw HTTP1ParseError(.malformedStatusLine, offset: 9, detail: "status code \(status) below 100")
        }
        let reasonStart = min(13, lineEnd)
        for position in reasonStart..<lineEnd where !HTTPSyntax.isFieldValueByte(octet(position)) {
            throw HTTP1ParseError(.malformedStatusLine, offset: position, detail: "control octet in the reason-phrase")
        }
        let fieldLines: [HTTPHeaderFields.Slot]
        if let slots {
            fieldLines = slots
        } else {
            fieldLines = try FieldLineParser.parse(block, from: lineEnd + 2, offsetBase: 0)
        }
        let headers = HTTPHeaderFields(storage: block, slots: fieldLines)
        let framing = try responseFraming(headers, version: version, status: status, requestMethod: requestMethod,
                                          requestedUpgrade: requestedUpgrade)
        return ResponseHead(bytes: block, version: version, status: status, reasonRange: reasonStart..<lineEnd,
                            headers: headers, framing: framing)
    }

    /// RFC 9112 §6.3, in its order. The framing fields are checked whatever the status, so a response we
    /// forward never carries framing a client could read differently.
    static func responseFraming(
        _ headers: HTTPHeaderFields, version: HTTPVersion, status: Int, requestMethod: HTTPMethod, requestedUpgrade: Bool
    ) throws(HTTP1ParseError) -> ResponseFraming {
        let fields = try FramingFields(headers, offsetBase: 0)
        if let codings = fields.transferCodings {
            let at = fields.transferEncodingOffset
            if version == .http10 {
                throw HTTP1ParseError(.transferEncodingInHTTP10, offset: at, detail: "Transfer-Encoding in an HTTP/1.0 response")
            }
            if fields.contentLength != nil {
                throw HTTP1ParseError(.contentLengthWithTransferEncoding, offset: at, detail: "both Content-Length and Transfer-Encoding")
            }
            if codings.count(where: { $0 == "chunked" }) > 1 {
                throw HTTP1ParseError(.chunkedAppliedTwice, offset: at, detail: "chunked applied more than once")
            }
        }
        switch status {
        case 101:
            guard requestedUpgrade else {
                throw HTTP1ParseError(.unexpectedSwitchingProtocols, offset: 9, detail: "101 to a request that did not ask to upgrade")
            }
            return .switchingProtocols
        case 100..<200:
            return .interim
        default:
            break
        }
        if requestMethod == .head || status == 204 || status == 304 { return .body(.none) }
        if requestMethod == .connect && (200..<300).contains(status) { return .tunnel }
        if let codings = fields.transferCodings {
            // Chunked last: chunked; otherwise the body runs to the close (§6.3 item 4).
            return codings.last == "chunked" ? .body(.chunked) : .body(.closeDelimited)
        }
        if let length = fields.contentLength { return .body(.contentLength(length)) }
        return .body(.closeDelimited)
    }
}
