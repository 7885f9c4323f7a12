/// Finds, in the first octets of one direction of a forwarded HTTP/1.1 exchange, what the request
/// log shows: the request line's method and path, or the status of the final response (interim 1xx
/// responses such as `100 Continue` are skipped; `101 Switching Protocols` is final).
///
/// Pure and bounded: it only looks, never changes a byte, and gives up after `limit` octets, so a
/// request without a newline in its first 8 KiB costs nothing more.
public struct HTTPHeadScanner: Sendable, Hashable {
    public enum Side: Sendable, Hashable { case request, response }

    public static let defaultLimit = 8 * 1024

    public let side: Side
    public let limit: Int
    public private(set) var method: String?
    /// The request-target up to, not including, `?` or `#` (a query may carry secrets).
    public private(set) var path: String?
    public private(set) var status: Int?
    /// It found what it looks for, or gave up (not HTTP, or nothing within `limit`).
    public private(set) var isFinished = false

    private var line: [UInt8] = []
    private var scanned = 0
    /// Inside the header block of an interim response: lines are skipped up to the empty one.
    private var skippingInterimHeaders = false

    public init(side: Side, limit: Int = defaultLimit) {
        self.side = side
        self.limit = limit
    }

    public mutating func scan<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        guard !isFinished else { return }
        if bytes.withContiguousStorageIfAvailable({ scan(UnsafeRawBufferPointer($0)) }) != nil { return }
        scanOctets(bytes)
    }

    /// Scans `bytes` a line at a time (a search for LF, then one append), not an octet at a time:
    /// this runs on every octet that starts an exchange.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while !isFinished, !rest.isEmpty {
            let room = limit - scanned
            guard room > 0 else { break }
            let window = rest.prefix(room)
            guard let newline = window.firstIndex(of: UInt8(ascii: "\n")) else {
                line.append(contentsOf: window)
                scanned += window.count
                rest = rest[window.endIndex...]
                continue
            }
            scanned += newline - window.startIndex + 1
            if line.isEmpty {
                // The whole line is in this input (the usual case): read where it is, not copied.
                endOfLine(UnsafeRawBufferPointer(rebasing: window[window.startIndex..<newline]))
            } else {
                line.append(contentsOf: window[window.startIndex..<newline])
                endOfKeptLine()
            }
            rest = rest[(newline + 1)...]
        }
        if scanned >= limit { isFinished = true }
    }

    /// The same for input that is not contiguous, an octet at a time.
    private mutating func scanOctets<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        for byte in bytes {
            guard !isFinished, scanned < limit else { break }
            scanned += 1
            if byte == UInt8(ascii: "\n") {
                endOfKeptLine()
            } else {
                line.append(byte)
            }
        }
        if scanned >= limit { isFinished = true }
    }

    /// Ready for the next exchange of a kept stream, keeping the line's storage.
    public mutating func reset() {
        method = nil
        path = nil
        status = nil
        isFinished = false
        line.removeAll(keepingCapacity: true)
        scanned = 0
        skippingInterimHeaders = false
    }

    /// The line gathered in `line` ended: it is read, then emptied (its storage kept).
    private mutating func endOfKeptLine() {
        var kept: [UInt8] = []
        swap(&kept, &line)  // read while `self` changes: out of `self` for the time of the read
        kept.withUnsafeBytes { endOfLine($0) }
        kept.removeAll(keepingCapacity: true)
        line = kept
    }

    /// A line ended (without its LF).
    private mutating func endOfLine(_ octets: UnsafeRawBufferPointer) {
        var line = octets
        if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        switch side {
        case .request: requestLine(line)
        case .response: responseLine(line)
        }
    }

    private mutating func requestLine(_ line: UnsafeRawBufferPointer) {
        // RFC 9112 §2.2: empty lines before the request line are ignored.
        guard !line.isEmpty else { return }
        isFinished = true
        // method SP request-target SP HTTP-version, exactly two spaces.
        guard let firstSpace = line.firstIndex(of: UInt8(ascii: " ")),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: UInt8(ascii: " ")),
              !line[(secondSpace + 1)...].contains(UInt8(ascii: " ")) else { return }
        let methodOctets = line[..<firstSpace]
        let target = line[(firstSpace + 1)..<secondSpace]
        guard !methodOctets.isEmpty, methodOctets.allSatisfy(Self.isTokenOctet),
              !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              line[(secondSpace + 1)...].starts(with: "HTTP/".utf8) else { return }
        method = String(decoding: methodOctets, as: UTF8.self)
        path = String(decoding: target.prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }, as: UTF8.self)
    }

    private mutating func responseLine(_ line: UnsafeRawBufferPointer) {
        if skippingInterimHeaders {
            if line.isEmpty { skippingInterimHeaders = false }
            return
        }
        // "HTTP/1.1 200 OK": a version, a space, three digits, then a space or the end.
        let digits = line.dropFirst(9).prefix(3)
        guard line.starts(with: "HTTP/".utf8), line.count >= 12, line[8] == UInt8(ascii: " "),
              digits.count == 3, digits.allSatisfy({ (0x30...0x39).contains($0) }),
              line.count == 12 || line[12] == UInt8(ascii: " ") else {
            isFinished = true
            return
        }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        if (100...199).contains(code) && code != 101 {
            skippingInterimHeaders = true
            return
        }
        status = code
        isFinished = true
    }

    /// RFC 9110 token characters.
    private static func isTokenOctet(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
