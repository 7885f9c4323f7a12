/// Reads the output of `tshark -q -z follow,tls,raw,N` (or `…,hex,N`, or `follow,tcp,…`): one chunk
/// per line (raw) or per run of dump lines (hex); lines of node 1, the side that did not connect,
/// are indented with a tab. Node 0 is the laptop (the TLS client), node 1 the agent.
public enum TsharkFollow {
    public static func parse(_ text: String) throws(InputFormatError) -> CapturedStream {
        var stream = CapturedStream(chunks: [])
        var hexMode: Bool?
        var offsets: [WireDirection: Int] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.hasPrefix("===") || line.isEmpty { continue }
            if line.hasPrefix("Follow:") {
                hexMode = line.contains(",hex")
                if !(line.contains(",raw") || line.contains(",hex")) {
                    throw InputFormatError(line: number, "\(line): only the raw and hex modes of tshark's follow carry every octet (use -z follow,tls,raw,N)")
                }
                continue
            }
            if line.hasPrefix("Filter:") { continue }
            if line.hasPrefix("Node 0:") { stream.endpoints[.clientToServer] = line.dropFirst(7).trimmingBlanks(); continue }
            if line.hasPrefix("Node 1:") { stream.endpoints[.serverToClient] = line.dropFirst(7).trimmingBlanks(); continue }
            let direction: WireDirection = line.hasPrefix("\t") ? .serverToClient : .clientToServer
            let body = line.hasPrefix("\t") ? String(line.dropFirst()) : line
            let isHex = hexMode ?? (HexDump.tokenize(body).first.flatMap { HexDump.dumpOffset($0.text) } != nil && HexDump.tokenize(body).count > 1)
            if isHex {
                let offset = offsets[direction, default: 0]
                // The next line of the same direction tells where this one's octets end.
                var next: String?
                if index + 1 < lines.count {
                    let following = lines[index + 1]
                    if following.hasPrefix("\t") == (direction == .serverToClient) {
                        next = following.hasPrefix("\t") ? String(following.dropFirst()) : following
                    }
                }
                guard let first = HexDump.tokenize(body).first, let lineOffset = HexDump.dumpOffset(first.text) else {
                    throw InputFormatError(line: number, "expected a hex dump line (offset, octets, ASCII)")
                }
                let bytes = HexDump.dumpBytes(body, tokens: Array(HexDump.tokenize(body).dropFirst()),
                                              expected: next.flatMap { HexDump.tokenize($0).first }.flatMap { HexDump.dumpOffset($0.text) }.map { $0 - lineOffset })
                if lineOffset != offset && lineOffset != 0 {
                    throw InputFormatError(line: number, "offset \(lineOffset) does not follow the \(offset) octets read so far in this direction")
                }
                offsets[direction] = lineOffset + bytes.count
                // Lines continuing one chunk share its direction and follow its offset; a new chunk starts
                // when the direction changes.
                if let last = stream.chunks.last, last.direction == direction, lineOffset != 0 || offset == 0, index > 0,
                   lines[index - 1].hasPrefix("\t") == (direction == .serverToClient), !lines[index - 1].hasPrefix("Node") {
                    stream.chunks[stream.chunks.count - 1].bytes += bytes
                } else {
                    stream.chunks.append(.init(direction: direction, bytes: bytes))
                }
            } else {
                guard let bytes = Hex.decode(Array(body.utf8.filter { $0 != UInt8(ascii: "\r") })) else {
                    throw InputFormatError(line: number, "expected a line of hex (tshark follow raw output)")
                }
                stream.chunks.append(.init(direction: direction, bytes: bytes))
            }
        }
        return stream
    }
}

extension Substring {
    func trimmingBlanks() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
