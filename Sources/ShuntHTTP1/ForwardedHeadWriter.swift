import NIOCore

/// Writes a request head as the edge forwards it to the app or through the tunnel: request-line as
/// received, hop-by-hop fields dropped (framing fields kept, the body follows verbatim), an upgrade
/// request's `Upgrade` and `Connection: upgrade` kept, and the client appended to `X-Forwarded-For`
/// and `Forwarded` (RFC 7239).
public enum ForwardedHeadWriter {
    /// The client's address as it appears in the forwarding fields: IPv4 dotted or IPv6 text.
    public struct ClientAddress: Hashable, Sendable {
        public let text: String
        public let isIPv6: Bool

        /// Nil unless `text` looks like an IP address (digits, hex, `.`, `:`), so no caller can inject
        /// field syntax through it.
        public init?(_ text: String) {
            guard !text.isEmpty, text.utf8.count <= 45,
                  text.utf8.allSatisfy({ HTTPSyntax.hexValue($0) != nil || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") })
            else { return nil }
            self.text = text
            self.isIPv6 = text.contains(":")
        }

        /// The `for=` node of RFC 7239 §6: IPv6 in brackets and quotes.
        public var forwardedNode: String { isIPv6 ? "\"[\(text)]\"" : text }
    }

    /// Appends the forwarded form of `head` to `buffer`. `proto` is the scheme the client spoke to the edge.
    public static func write(_ head: RequestHead, client: ClientAddress, proto: String = "http", into buffer: inout ByteBuffer) {
        precondition(proto == "http" || HTTPSyntax.isToken(proto.utf8), "proto must be a token, e.g. http")
        let headers = head.headers
        let upgrade = head.isUpgradeRequest
        var forwardedFor: [ByteBufferView] = []
        var forwarded: [ByteBufferView] = []
        let connectionListed = HopByHopHeaders.connectionListed(in: headers)
        head.bytes.withUnsafeReadableBytes { raw in
            // The request-line and each run of kept field lines already written `name: value` leave
            // as the octets received, one copy per run; a line with other whitespace around its value
            // is written that way. Names were recognized when the fields were parsed: no name
            // comparison and no view per field. Field lines follow one another (obs-fold is refused),
            // so a line ends where the next begins, the last where the empty line does.
            let headEnd = raw.count - 2
            var runStart = 0
            var runEnd = headers.isEmpty ? headEnd : headers.slots[0].name.lowerBound
            for index in headers.indices {
                let slot = headers.slots[index]
                let lineEnd = index + 1 < headers.endIndex ? headers.slots[index + 1].name.lowerBound : headEnd
                let keep: Bool
                switch slot.known {
                case .xForwardedFor:
                    forwardedFor.append(headers.value(at: index))
                    keep = false
                case .forwarded:
                    forwarded.append(headers.value(at: index))
                    keep = false
                default:
                    keep = slot.known.isFramingOrRouting || (upgrade && slot.known == .upgrade)
                        || !HopByHopHeaders.isHopByHop(at: index, in: headers, connectionListed: connectionListed)
                }
                if keep && isWrittenAsItLeaves(slot, lineEnd: lineEnd, in: raw) {
                    runEnd = lineEnd
                    continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
                if keep {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[slot.name]))
                    buffer.writeStaticString(": ")
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[slot.value]))
                    buffer.writeStaticString("\r\n")
                }
                runStart = lineEnd
                runEnd = lineEnd
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
        }
        if upgrade {
            buffer.writeStaticString("Connection: upgrade\r\n")
        }
        // Ours are written in pieces: a string built for them would cost an allocation per request.
        writeListStart("X-Forwarded-For", existing: forwardedFor, into: &buffer)
        buffer.writeString(client.text)
        buffer.writeStaticString("\r\n")
        writeListStart("Forwarded", existing: forwarded, into: &buffer)
        buffer.writeStaticString("for=")
        if client.isIPv6 {
            buffer.writeStaticString("\"[")
            buffer.writeString(client.text)
            buffer.writeStaticString("]\"")
        } else {
            buffer.writeString(client.text)
        }
        buffer.writeStaticString(";proto=")
        buffer.writeString(proto)
        buffer.writeStaticString("\r\n")
        buffer.writeStaticString("\r\n")
    }

    /// Whether the line of `slot`, up to `lineEnd`, is `name: value` and CRLF, one SP after the colon
    /// and nothing after the value: the octets received are then those the line leaves as.
    @inline(__always)
    private static func isWrittenAsItLeaves(_ slot: HTTPHeaderFields.Slot, lineEnd: Int, in raw: UnsafeRawBufferPointer) -> Bool {
        slot.value.lowerBound == slot.name.upperBound + 2 && raw[slot.name.upperBound + 1] == HTTPSyntax.sp
            && lineEnd == slot.value.upperBound + 2
    }

    /// The start of one field line: the values received, comma-joined, each followed by `, ` (ours comes next).
    private static func writeListStart(_ name: StaticString, existing: [ByteBufferView], into buffer: inout ByteBuffer) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        for old in existing where !old.isEmpty {
            buffer.writeBytes(old)
            buffer.writeStaticString(", ")
        }
    }
}
