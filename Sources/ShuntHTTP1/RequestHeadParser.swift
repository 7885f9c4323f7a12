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
            guard let block = try scanner.scan(&input) else { return nil }
            let skipped = scanner.skipped
            scanner = FieldBlockScanner(kind: .requestHead, limits: limits)
            return try Self.parseHead(block, offsetBase: skipped, limits: limits)
        } catch {
            failure = error
            throw error
        }
    }

    static func parseHead(_ block: ByteBuffer, offsetBase: Int, limits: HTTP1Limits) throws(HTTP1ParseError) -> RequestHead {
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
        let pathRange = (classified.path.lowerBound + targetRange.lowerBound)..<(classified.path.upperBound + targetRange.lowerBound)

        let headers = HTTPHeaderFields(
            storage: block, slots: try FieldLineParser.parse(block, from: lineEnd + 2, offsetBase: offsetBase))
        let framing = try requestFraming(headers, version: version, offsetBase: offsetBase, endOfHead: offsetBase + view.count)
        try checkHost(headers, version: version, form: classified.form,
                      authority: classified.authority.map { target[(target.startIndex + $0.lowerBound)..<(target.startIndex + $0.upperBound)] },
                      offsetBase: offsetBase, endOfHead: offsetBase + view.count)
        return RequestHead(bytes: block, method: method, version: version, targetForm: classified.form,
                           targetRange: targetRange, pathRange: pathRange, headers: headers, framing: framing)
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
        for index in headers.indices where headers.name(at: index, is: "host") {
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
