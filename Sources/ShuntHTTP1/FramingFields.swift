import NIOCore

/// The framing fields of a head, Content-Length and Transfer-Encoding, read strictly.
struct FramingFields {
    /// The one Content-Length value, nil when absent.
    var contentLength: Int64?
    /// The transfer codings in order (lowercased), nil when there is no Transfer-Encoding field.
    var transferCodings: [String]?
    /// Where the first Transfer-Encoding field line starts, for error offsets.
    var transferEncodingOffset = 0

    /// Reads the fields of `headers`; `offsetBase` is where the headers' bytes start in the message.
    init(_ headers: HTTPHeaderFields, offsetBase: Int) throws(HTTP1ParseError) {
        var contentLength: Int64?
        var transferCodings: [String]?
        // The names were recognized when the fields were parsed; a value is looked at only for these two.
        let framed = headers.has(.contentLength) || headers.has(.transferEncoding)
        for index in headers.indices where framed {
            let known = headers.known(at: index)
            let isContentLength = known == .contentLength
            guard isContentLength || known == .transferEncoding else { continue }
            let fieldValue = headers.value(at: index)
            let at = offsetBase + headers.ranges(at: index).value.lowerBound
            if isContentLength {
                // Refused even when identical: RFC 9110 §8.6 lets a recipient merge equal values, but a
                // proxy behind us might not, and one Content-Length is all an honest client ever sends.
                if contentLength != nil {
                    throw HTTP1ParseError(.duplicateContentLength, offset: offsetBase + headers.ranges(at: index).name.lowerBound,
                                          detail: "Content-Length given more than once")
                }
                contentLength = try Self.parseContentLength(fieldValue, at: at)
            } else {
                if transferCodings == nil { transferEncodingOffset = offsetBase + headers.ranges(at: index).name.lowerBound }
                var codings = transferCodings ?? []
                let value = fieldValue
                var elementStart = value.startIndex
                while true {
                    let elementEnd = value[elementStart...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                    let element = HTTPHeaderFields.trimmed(value[elementStart..<elementEnd])
                    // Empty list elements are refused, not skipped: `chunked,` is a smuggler's, not a client's.
                    guard HTTPSyntax.isToken(element) else {
                        throw HTTP1ParseError(.invalidTransferEncoding, offset: at + elementStart - value.startIndex,
                                              detail: "Transfer-Encoding element \"\(String(decoding: element, as: UTF8.self))\" is not a coding name")
                    }
                    codings.append(String(decoding: element.map(HTTPSyntax.lowercased), as: UTF8.self))
                    guard elementEnd < value.endIndex else { break }
                    elementStart = elementEnd + 1
                }
                transferCodings = codings
            }
        }
        self.contentLength = contentLength
        self.transferCodings = transferCodings
    }

    /// `Content-Length = 1*DIGIT`, at most Int64.max: no sign, no inner whitespace, no list, not empty.
    static func parseContentLength(_ value: ByteBufferView, at offset: Int) throws(HTTP1ParseError) -> Int64 {
        // The value as text is made only for an error message.
        var text: String { String(decoding: value, as: UTF8.self) }
        guard !value.isEmpty else {
            throw HTTP1ParseError(.invalidContentLength, offset: offset, detail: "empty Content-Length")
        }
        var result: Int64 = 0
        for (position, byte) in zip(offset..., value) {
            guard HTTPSyntax.isDigit(byte) else {
                throw HTTP1ParseError(.invalidContentLength, offset: position, detail: "Content-Length \"\(text)\" is not a decimal number")
            }
            let (times10, o1) = result.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !o1 && !o2 else {
                throw HTTP1ParseError(.invalidContentLength, offset: offset, detail: "Content-Length \"\(text)\" exceeds \(Int64.max)")
            }
            result = sum
        }
        return result
    }
}
