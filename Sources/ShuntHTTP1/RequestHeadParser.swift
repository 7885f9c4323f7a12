import NIOCore

/// Parses one request head after another from a client connection, fed input in pieces of any size.
///
/// `parse(_:)` consumes octets of its input up to the end of the head and returns the head once it is
/// complete; the octets after it (body, next request) stay in the input for `BodyFramer`. A head that
/// arrives in one piece is sliced from the input without a copy. After an error the parser keeps
/// throwing it: the edge answers `error.status` and closes.
public struct RequestHeadParser: Sendable {
    public let limits: HTTP1Limits
    private var scanner: FieldBlockScanner
    private var failure: HTTP1ParseError?

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        self.scanner = FieldBlockScanner(kind: .requestHead, limits: limits)
    }

    public mutating func parse(_ input: inout ByteBuffer) throws(HTTP1ParseError) -> RequestHead? {
        if let failure { throw failure }
        do {
            // A whole, well-formed head in the input is read in one pass; else the scanner reads it.
            if scanner.isFresh, let head = try Self.wellFormedHead(&input, limits: limits) { return head }
            guard let block = try scanner.scan(&input) else { return nil }
            let skipped = scanner.skipped
            scanner = FieldBlockScanner(kind: .requestHead, limits: limits)
            return try Self.parseHead(block, offsetBase: skipped, limits: limits)
        } catch {
            failure = error
            throw error
        }
    }

    /// The request-line, parsed: octet ranges are relative to the start of the head; `path` and
    /// `authority` relative to the start of the target.
    struct RequestLine {
        var lineEnd: Int
        var method: HTTPMethod
        var version: HTTPVersion
        var targetRange: Range<Int>
        var form: RequestTargetForm
        var path: Range<Int>
        var authority: Range<Int>?
    }

    /// The head at the start of `input` read in one pass, when it is all there and nothing in its
    /// lines is wrong: the request-line, every field line and the empty line well formed, no empty
    /// line before it, within the size and field limits. It is then taken from `input`. Nil for any
    /// other input, left as it was for the scanner, which names the first error or waits for the
    /// rest: from the same octets it accepts the same head (the scanner's checks are met, and the
    /// lines are read by the same functions).
    static func wellFormedHead(_ input: inout ByteBuffer, limits: HTTP1Limits) throws(HTTP1ParseError) -> RequestHead? {
        let found = input.withUnsafeReadableBytes { bytes -> (line: RequestLine, end: Int, slots: [HTTPHeaderFields.Slot])? in
            guard let line = wellFormedRequestLine(bytes, limits: limits),
                  line.lineEnd + 1 < bytes.count, bytes[line.lineEnd + 1] == HTTPSyntax.lf,
                  let fields = FieldLineParser.wellFormedBlock(bytes, from: line.lineEnd + 2, maxFields: limits.maxHeaderCount,
                                                               maxSize: limits.maxHeadSize)
            else { return nil }
            return (line, fields.end, fields.slots)
        }
        guard let found else { return nil }
        let block = input.readSlice(length: found.end)!
        return try finishHead(block, line: found.line, slots: found.slots, offsetBase: 0)
    }

    static func parseHead(_ block: ByteBuffer, offsetBase: Int, limits: HTTP1Limits) throws(HTTP1ParseError) -> RequestHead {
        // A well-formed request-line is read through a raw pointer in one pass; any other goes the
        // checked way, which finds and names its first error.
        let line: RequestLine
        if let fast = block.withUnsafeReadableBytes({ wellFormedRequestLine($0, limits: limits) }) {
            line = fast
        } else {
            line = try checkedRequestLine(block, offsetBase: offsetBase, limits: limits)
        }
        let slots = try FieldLineParser.parse(block, from: line.lineEnd + 2, offsetBase: offsetBase)
        return try finishHead(block, line: line, slots: slots, offsetBase: offsetBase)
    }

    /// The head of `block` once its request-line and field lines are read: framing and Host checked.
    private static func finishHead(
        _ block: ByteBuffer, line: RequestLine, slots: [HTTPHeaderFields.Slot], offsetBase: Int
    ) throws(HTTP1ParseError) -> RequestHead {
        let targetRange = line.targetRange
        let pathRange = (line.path.lowerBound + targetRange.lowerBound)..<(line.path.upperBound + targetRange.lowerBound)
        let endOfHead = offsetBase + block.readableBytes
        let headers = HTTPHeaderFields(storage: block, slots: slots)
        let framing = try requestFraming(headers, version: line.version, offsetBase: offsetBase, endOfHead: endOfHead)
        let authority = line.authority.map { range in
            block.readableBytesView[(block.readerIndex + targetRange.lowerBound + range.lowerBound)..<(block.readerIndex + targetRange.lowerBound + range.upperBound)]
        }
        try checkHost(headers, version: line.version, form: line.form, authority: authority, offsetBase: offsetBase, endOfHead: endOfHead)
        return RequestHead(bytes: block, method: line.method, version: line.version, targetForm: line.form,
                           targetRange: targetRange, pathRange: pathRange, headers: headers, framing: framing)
    }

    /// The request-line when nothing in it is wrong: a token method, one SP, a target within the
    /// limit that classifies, one SP, `HTTP/1.1` or `HTTP/1.0`, CR. Nil for anything else.
    static func wellFormedRequestLine(_ bytes: UnsafeRawBufferPointer, limits: HTTP1Limits) -> RequestLine? {
        let count = bytes.count
        var firstSpace = 0
        while firstSpace < count && bytes[firstSpace] != HTTPSyntax.sp {
            guard HTTPSyntax.isTokenByte(bytes[firstSpace]) else { return nil }  // CR is not a token octet
            firstSpace += 1
        }
        guard firstSpace > 0 && firstSpace < count else { return nil }
        var secondSpace = firstSpace + 1
        while secondSpace < count && bytes[secondSpace] != HTTPSyntax.sp && bytes[secondSpace] != HTTPSyntax.cr { secondSpace += 1 }
        let targetRange = (firstSpace + 1)..<secondSpace
        let version = secondSpace + 1
        guard !targetRange.isEmpty, targetRange.count <= limits.maxRequestTargetLength,
              version + 8 < count, bytes[secondSpace] == HTTPSyntax.sp, bytes[version + 8] == HTTPSyntax.cr,
              bytes[version] == UInt8(ascii: "H"), bytes[version + 1] == UInt8(ascii: "T"), bytes[version + 2] == UInt8(ascii: "T"),
              bytes[version + 3] == UInt8(ascii: "P"), bytes[version + 4] == UInt8(ascii: "/"), bytes[version + 5] == UInt8(ascii: "1"),
              bytes[version + 6] == UInt8(ascii: "."), bytes[version + 7] == UInt8(ascii: "1") || bytes[version + 7] == UInt8(ascii: "0")
        else { return nil }
        let method = HTTPMethod(token: UnsafeRawBufferPointer(rebasing: bytes[0..<firstSpace]))
        let target = UnsafeRawBufferPointer(rebasing: bytes[targetRange])
        let classified = target.withMemoryRebound(to: UInt8.self) { target in
            try? RequestTargetForm.classify(target, method: method, offset: 0)
        }
        guard let classified else { return nil }
        return RequestLine(lineEnd: version + 8, method: method, version: bytes[version + 7] == UInt8(ascii: "1") ? .http11 : .http10,
                           targetRange: targetRange, form: classified.form, path: classified.path, authority: classified.authority)
    }

    /// The request-line checked octet by octet, in the order its errors are reported.
    static func checkedRequestLine(_ block: ByteBuffer, offsetBase: Int, limits: HTTP1Limits) throws(HTTP1ParseError) -> RequestLine {
        let view = block.readableBytesView
        let base = view.startIndex
        func fail(_ kind: HTTP1ParseError.Kind, _ at: Int, _ detail: String) -> HTTP1ParseError {
            HTTP1ParseError(kind, offset: offsetBase + at, detail: detail)
        }
        // request-line = method SP request-target SP HTTP-version: exactly one SP each (RFC 9112 §3).
        let lineEnd = view.firstIndex(of: HTTPSyntax.cr)! - base
        let line = view[base..<(base + lineEnd)]
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.sp).map({ $0 - base }) else {
            throw fail(.malformedRequestLine, 0, "request-line without spaces")
        }
        for position in 0..<firstSpace where !HTTPSyntax.isTokenByte(view[base + position]) {
            throw fail(.invalidMethod, position, "octet 0x\(FieldLineParser.hex(view[base + position])) in the method")
        }
        if firstSpace == 0 { throw fail(.invalidMethod, 0, "empty method") }
        guard let secondSpace = line[(base + firstSpace + 1)...].firstIndex(of: HTTPSyntax.sp).map({ $0 - base }) else {
            throw fail(.malformedRequestLine, firstSpace, "request-line without an HTTP version")
        }
        let targetRange = (firstSpace + 1)..<secondSpace
        if targetRange.isEmpty { throw fail(.invalidRequestTarget, targetRange.lowerBound, "empty request-target") }
        if targetRange.count > limits.maxRequestTargetLength {
            throw fail(.requestTargetTooLong, targetRange.lowerBound, "request-target longer than \(limits.maxRequestTargetLength) octets")
        }
        let version = try parseVersion(view[(base + secondSpace + 1)..<(base + lineEnd)], offset: offsetBase + secondSpace + 1)
        let method = HTTPMethod(token: view[base..<(base + firstSpace)])
        let target = view[(base + targetRange.lowerBound)..<(base + targetRange.upperBound)]
        let classified = try RequestTargetForm.classify(target, method: method, offset: offsetBase + targetRange.lowerBound)
        return RequestLine(lineEnd: lineEnd, method: method, version: version, targetRange: targetRange,
                           form: classified.form, path: classified.path, authority: classified.authority)
    }

    /// `HTTP/1.1` or `HTTP/1.0`, case-sensitive; another `HTTP/d.d` is a 505, anything else a 400.
    static func parseVersion(_ bytes: ByteBufferView, offset: Int) throws(HTTP1ParseError) -> HTTPVersion {
        if bytes.elementsEqual("HTTP/1.1".utf8) { return .http11 }
        if bytes.elementsEqual("HTTP/1.0".utf8) { return .http10 }
        let array = Array(bytes)
        if array.count == 8, array.starts(with: "HTTP/".utf8), HTTPSyntax.isDigit(array[5]),
           array[6] == UInt8(ascii: "."), HTTPSyntax.isDigit(array[7]) {
            throw HTTP1ParseError(.unsupportedVersion, offset: offset, detail: "\(String(decoding: array, as: UTF8.self)) is not supported")
        }
        throw HTTP1ParseError(.malformedVersion, offset: offset, detail: "\"\(String(decoding: array, as: UTF8.self))\" is not an HTTP version")
    }

    /// RFC 9112 §6.1, §6.3 for requests: TE only in HTTP/1.1, never with Content-Length, and then
    /// exactly `chunked`.
    static func requestFraming(
        _ headers: HTTPHeaderFields, version: HTTPVersion, offsetBase: Int, endOfHead: Int
    ) throws(HTTP1ParseError) -> BodyFraming {
        let fields = try FramingFields(headers, offsetBase: offsetBase)
        guard let codings = fields.transferCodings else {
            return fields.contentLength.map { .contentLength($0) } ?? .none
        }
        let at = fields.transferEncodingOffset
        if version == .http10 {
            throw HTTP1ParseError(.transferEncodingInHTTP10, offset: at, detail: "Transfer-Encoding in an HTTP/1.0 request")
        }
        if fields.contentLength != nil {
            throw HTTP1ParseError(.contentLengthWithTransferEncoding, offset: at, detail: "both Content-Length and Transfer-Encoding")
        }
        // chunked not final: a MUST-400 (§6.3 item 4), even for codings we do not know.
        guard codings.last == "chunked" else {
            throw HTTP1ParseError(.chunkedNotFinal, offset: at, detail: "Transfer-Encoding \(codings.joined(separator: ", ")) does not end in chunked")
        }
        if codings.count(where: { $0 == "chunked" }) > 1 {
            throw HTTP1ParseError(.chunkedAppliedTwice, offset: at, detail: "chunked applied more than once")
        }
        if codings.count > 1 {
            throw HTTP1ParseError(.unsupportedTransferCoding, offset: at,
                                  detail: "Transfer-Encoding \(codings.joined(separator: ", ")): only chunked is supported")
        }
        return .chunked
    }

    /// Exactly one valid Host in HTTP/1.1 (at most one in HTTP/1.0), equal to an absolute-form authority.
    static func checkHost(
        _ headers: HTTPHeaderFields, version: HTTPVersion, form: RequestTargetForm, authority: ByteBufferView?,
        offsetBase: Int, endOfHead: Int
    ) throws(HTTP1ParseError) {
        var host: (value: ByteBufferView, offset: Int)?
        for index in headers.indices where headers.known(at: index) == .host {
            let offset = offsetBase + headers.ranges(at: index).value.lowerBound
            if host != nil {
                throw HTTP1ParseError(.duplicateHost, offset: offsetBase + headers.ranges(at: index).name.lowerBound, detail: "more than one Host")
            }
            host = (headers.value(at: index), offset)
        }
        guard let host else {
            if version == .http11 { throw HTTP1ParseError(.missingHost, offset: endOfHead, detail: "HTTP/1.1 request without Host") }
            return
        }
        guard host.value.withContiguousStorageIfAvailable({ RequestTargetForm.isAuthority($0[...], requirePort: false) }) == true else {
            throw HTTP1ParseError(.invalidHost, offset: host.offset, detail: "Host \"\(String(decoding: host.value, as: UTF8.self))\" is not host[:port]")
        }
        if form == .absolute, let authority, !HTTPSyntax.equalsIgnoringCase(authority, host.value) {
            throw HTTP1ParseError(.hostMismatch, offset: host.offset, detail: "Host differs from the absolute-form target's authority")
        }
    }
}
