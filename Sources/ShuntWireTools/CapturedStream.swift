import NIOCore

/// Input to `shunt-wire decode` once read: the bytes of one or both directions, in the chunks the
/// capture saw them arrive (a tshark "follow" transcript has one chunk per TLS record or segment).
public struct CapturedStream: Hashable, Sendable {
    public struct Chunk: Hashable, Sendable {
        public var direction: WireDirection?
        public var bytes: [UInt8]

        public init(direction: WireDirection?, bytes: [UInt8]) {
            self.direction = direction
            self.bytes = bytes
        }
    }

    public var chunks: [Chunk]
    /// The endpoints of a tshark transcript (`Node 0: 127.0.0.1:50000`), by direction of their bytes.
    public var endpoints: [WireDirection: String] = [:]

    public init(chunks: [Chunk], endpoints: [WireDirection: String] = [:]) {
        self.chunks = chunks
        self.endpoints = endpoints
    }

    /// One direction-less stream of raw octets.
    public init(raw: [UInt8]) {
        self.chunks = [Chunk(direction: nil, bytes: raw)]
    }

    /// The directions present, client first.
    public var directions: [WireDirection?] {
        var seen: [WireDirection?] = []
        for chunk in chunks where !seen.contains(chunk.direction) { seen.append(chunk.direction) }
        let rank: (WireDirection?) -> Int = { $0 == .clientToServer ? 0 : $0 == .serverToClient ? 1 : 2 }
        return seen.sorted { rank($0) < rank($1) }
    }

    /// A transcript's node 0 is not always the laptop (tshark 4.0 names the side whose data it saw
    /// first). Swaps the directions when `agent` names node 0's endpoint, or, without `agent`, when
    /// the streams opened say so: the laptop opens odd streams, the agent even ones (spec §5.1).
    public func oriented(agent: String? = nil, decoder: ResynchronizingDecoder = ResynchronizingDecoder()) -> CapturedStream {
        var swap = false
        if let agent {
            swap = endpoints[.clientToServer].map { $0 == agent || $0.hasSuffix(":" + agent) } ?? false
        } else {
            var votes = 0
            for direction in [WireDirection.clientToServer, .serverToClient] {
                let bytes = chunks.filter { $0.direction == direction }.flatMap(\.bytes)
                for record in decoder.decode(ByteBuffer(bytes: bytes)) {
                    guard let frame = record.frame, frame.type == .streamOpen else { continue }
                    let opensOdd = frame.streamID.rawValue & 1 == 1
                    votes += (opensOdd == (direction == .clientToServer)) ? -1 : 1
                }
            }
            swap = votes > 0
        }
        guard swap else { return self }
        let flip: (WireDirection?) -> WireDirection? = { $0.map { $0 == .clientToServer ? .serverToClient : .clientToServer } }
        var endpoints: [WireDirection: String] = [:]
        for (direction, endpoint) in self.endpoints { endpoints[flip(direction)!] = endpoint }
        return CapturedStream(chunks: chunks.map { Chunk(direction: flip($0.direction), bytes: $0.bytes) }, endpoints: endpoints)
    }

    /// Decodes each direction on its own, then interleaves the records in the order the capture saw
    /// them complete (a frame belongs to the chunk holding its last octet).
    public func decode(with decoder: ResynchronizingDecoder) -> [WireRecord] {
        var tagged: [(sequence: Int, order: Int, record: WireRecord)] = []
        for direction in directions {
            var bytes: [UInt8] = []
            var chunkEnds: [(end: Int, sequence: Int)] = []
            for (sequence, chunk) in chunks.enumerated() where chunk.direction == direction && !chunk.bytes.isEmpty {
                bytes += chunk.bytes
                chunkEnds.append((bytes.count, sequence))
            }
            var chunkIndex = 0
            decoder.decode(ByteBuffer(bytes: bytes), direction: direction) { record in
                let last = record.offset + max(record.bytes.readableBytes, 1) - 1
                while chunkIndex < chunkEnds.count - 1 && chunkEnds[chunkIndex].end <= last { chunkIndex += 1 }
                tagged.append((chunkEnds.isEmpty ? 0 : chunkEnds[chunkIndex].sequence, tagged.count, record))
            }
        }
        return tagged.sorted { ($0.sequence, $0.order) < ($1.sequence, $1.order) }.map(\.record)
    }
}
