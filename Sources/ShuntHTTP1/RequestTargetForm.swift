import NIOCore

/// The four forms of request-target (RFC 9112 §3.2), and which one a request used.
public enum RequestTargetForm: Hashable, Sendable {
    /// `/path?query`, the form every method but CONNECT normally uses.
    case origin
    /// `http://host:port/path?query`, accepted for any method but CONNECT (RFC 9112 §3.2.2 says a server
    /// MUST accept it); the Host field must then name the same authority.
    case absolute
    /// `host:port`, CONNECT only, and CONNECT only with it.
    case authority
    /// `*`, OPTIONS only.
    case asterisk

    /// Validates `target` for `method`. Returns the form, the octet range of the path inside the target
    /// (up to `?`; empty for authority- and asterisk-form, and for `http://host` without a path), and,
    /// for absolute-form, the range of the authority.
    static func classify(
        _ target: ByteBufferView, method: HTTPMethod, offset: Int
    ) throws(HTTP1ParseError) -> (form: RequestTargetForm, path: Range<Int>, authority: Range<Int>?) {
        // Read in place: a copy of the target would cost an allocation per request.
        let result = target.withContiguousStorageIfAvailable { bytes in
            Result { () throws(HTTP1ParseError) in try classify(bytes, method: method, offset: offset) }
        }
        return try result!.get()
    }

    static func classify(
        _ bytes: UnsafeBufferPointer<UInt8>, method: HTTPMethod, offset: Int
    ) throws(HTTP1ParseError) -> (form: RequestTargetForm, path: Range<Int>, authority: Range<Int>?) {
        func fail(_ detail: String) -> HTTP1ParseError {
            HTTP1ParseError(.invalidRequestTarget, offset: offset, detail: detail)
        }
        if method == .connect {
            guard isAuthority(bytes[...], requirePort: true) else {
                throw fail("CONNECT needs an authority-form target (host:port)")
            }
            return (.authority, 0..<0, 0..<bytes.count)
        }
        if bytes.count == 1 && bytes[0] == UInt8(ascii: "*") {
            guard method == .options else { throw fail("asterisk-form target is for OPTIONS only") }
            return (.asterisk, 0..<0, nil)
        }
        if bytes.first == UInt8(ascii: "/") {
            let pathEnd = try validatePathAndQuery(bytes, from: 0, offset: offset)
            return (.origin, 0..<pathEnd, nil)
        }
        // absolute-form: http or https, no userinfo.
        let lowered = bytes.prefix(8).lazy.map(HTTPSyntax.lowercased)
        let schemeLength: Int
        if lowered.starts(with: "http://".utf8) {
            schemeLength = 7
        } else if lowered.starts(with: "https://".utf8) {
            schemeLength = 8
        } else {
            throw fail("target is neither origin-form (/...) nor an http(s) absolute URI")
        }
        let authorityEnd = bytes[schemeLength...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
        guard isAuthority(bytes[schemeLength..<authorityEnd], requirePort: false) else {
            throw fail("absolute-form target has no valid authority (userinfo is refused)")
        }
        let pathEnd = try validatePathAndQuery(bytes, from: authorityEnd, offset: offset)
        return (.absolute, authorityEnd..<pathEnd, schemeLength..<authorityEnd)
    }

    /// Checks `path-abempty [ "?" query ]` from `start` (pchar, "/", "?", valid percent-encodings; no `#`,
    /// no whitespace, no octet above 0x7E). Returns where the path ends.
    private static func validatePathAndQuery(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, offset: Int) throws(HTTP1ParseError) -> Int {
        var pathEnd: Int?
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count,
                      HTTPSyntax.hexValue(bytes[index + 1]) != nil, HTTPSyntax.hexValue(bytes[index + 2]) != nil
                else {
                    throw HTTP1ParseError(.invalidRequestTarget, offset: offset + index, detail: "bad percent-encoding in the request-target")
                }
                index += 3
                continue
            }
            if byte == UInt8(ascii: "?") && pathEnd == nil {
                pathEnd = index
            } else if !(HTTPSyntax.isUnreservedOrSubDelim(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "@")
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?")) {
                throw HTTP1ParseError(.invalidRequestTarget, offset: offset + index,
                                      detail: "octet 0x\(FieldLineParser.hex(byte)) not allowed in a request-target")
            }
            index += 1
        }
        return pathEnd ?? bytes.count
    }

    /// `host [":" port]`: reg-name (unreserved, sub-delims, percent-encodings) or `[IPv6]`; port digits.
    static func isAuthority<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, requirePort: Bool) -> Bool
    where Bytes.Index == Int, Bytes.SubSequence == Bytes {
        var host = bytes
        var port: Bytes?
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = host[(host.startIndex + 1)..<close]
            guard !literal.isEmpty, literal.allSatisfy({ HTTPSyntax.hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                return false
            }
            let rest = host[(close + 1)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { return false }
                port = rest.dropFirst()
            }
            host = host[...close]
        } else {
            if let colon = host.lastIndex(of: UInt8(ascii: ":")) {
                port = host[(colon + 1)...]
                host = host[..<colon]
            }
            guard !host.isEmpty, host.allSatisfy({ HTTPSyntax.isUnreservedOrSubDelim($0) || $0 == UInt8(ascii: "%") }) else {
                return false
            }
        }
        if let port {
            return !port.isEmpty && port.count <= 5 && port.allSatisfy(HTTPSyntax.isDigit)
        }
        return !requirePort
    }
}
