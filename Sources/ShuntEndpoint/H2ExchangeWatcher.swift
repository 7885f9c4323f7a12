import NIOCore
import NIOHPACK

/// Follows an HTTP/2 connection with prior knowledge from the side, without changing a byte, and
/// tells when each of its streams ended: method and path of the request, status of the response
/// (and `grpc-status` from the trailers), octets of DATA each way, or the RST_STREAM code that cut it.
/// It is what the laptop's request log sees of an HTTP2 tunnel stream (spec §10).
///
/// Pure and bounded: DATA is counted, never kept; only a header block (HEADERS and its
/// CONTINUATIONs) is held, up to `maxHeaderBlock` octets, to be decoded with HPACK (each direction
/// has its own decoder, fed every block in order so that its table follows the peer's). Anything it
/// cannot follow (a malformed frame, a block too large, an HPACK error) ends the watching, not the
/// connection: later streams go unreported.
public struct H2ExchangeWatcher {
    public enum Direction: Sendable {
        /// From the agent's caller to the local service: the preface, then frames.
        case request
        /// From the local service back.
        case response
    }

    public struct Exchange: Sendable, Hashable {
        public var stream: UInt32
        public var method: String?
        public var path: String?
        public var status: Int?
        public var grpcStatus: Int?
        public var bytesIn = 0
        public var bytesOut = 0
        /// The RST_STREAM error code that ended the stream, if one did.
        public var resetCode: UInt32?
        public var opened: ContinuousClock.Instant
        public var ended: ContinuousClock.Instant

        public var duration: Duration { ended - opened }
    }

    public static let defaultMaxHeaderBlock = 256 * 1024
    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public let maxHeaderBlock: Int
    public private(set) var isFollowing = true

    private var request = DirectionState(prefaceLeft: H2ExchangeWatcher.preface.count)
    private var response = DirectionState(prefaceLeft: 0)
    private var streams: [UInt32: Exchange] = [:]
    private var requestEnded: Set<UInt32> = []
    private var responseEnded: Set<UInt32> = []

    private struct DirectionState {
        var prefaceLeft: Int
        var header: [UInt8] = []
        var current: FrameHeader?
        /// Octets of the current frame still to come.
        var payloadLeft = 0
        /// The current frame's payload, kept only for HEADERS, CONTINUATION and RST_STREAM.
        var payload: [UInt8] = []
        var keepsPayload = false
        /// A header block waiting for its CONTINUATIONs.
        var block: [UInt8] = []
        var blockStream: UInt32?
        var blockEndsStream = false
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 65_536)
    }

    private struct FrameHeader {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
    }

    public init(maxHeaderBlock: Int = H2ExchangeWatcher.defaultMaxHeaderBlock) {
        self.maxHeaderBlock = maxHeaderBlock
    }

    /// Feeds the octets that crossed in `direction` at `now`; returns the streams that ended.
    public mutating func feed(_ bytes: ByteBufferView, direction: Direction, at now: ContinuousClock.Instant) -> [Exchange] {
        guard isFollowing else { return [] }
        var ended: [Exchange] = []
        var state = direction == .request ? request : response
        var index = bytes.startIndex
        while index < bytes.endIndex && isFollowing {
            if state.prefaceLeft > 0 {
                let expected = Self.preface[Self.preface.count - state.prefaceLeft]
                if bytes[index] != expected { isFollowing = false; break }
                state.prefaceLeft -= 1
                index += 1
                continue
            }
            if state.current == nil {
                let take = min(9 - state.header.count, bytes.endIndex - index)
                state.header += bytes[index..<(index + take)]
                index += take
                guard state.header.count == 9 else { continue }
                let h = state.header
                let frame = FrameHeader(length: Int(h[0]) << 16 | Int(h[1]) << 8 | Int(h[2]), type: h[3], flags: h[4],
                                        stream: UInt32(h[5] & 0x7F) << 24 | UInt32(h[6]) << 16 | UInt32(h[7]) << 8 | UInt32(h[8]))
                state.header = []
                state.current = frame
                state.payloadLeft = frame.length
                state.payload = []
                state.keepsPayload = frame.type == 0x1 || frame.type == 0x9 || frame.type == 0x3
                if state.keepsPayload && frame.length + state.block.count > maxHeaderBlock { isFollowing = false; break }
                if frame.type == 0x0 { count(frame, direction: direction, at: now) }
            }
            if state.payloadLeft > 0 {
                let take = min(state.payloadLeft, bytes.endIndex - index)
                if state.keepsPayload { state.payload += bytes[index..<(index + take)] }
                state.payloadLeft -= take
                index += take
            }
            if state.payloadLeft == 0, let frame = state.current {
                state.current = nil
                ended += complete(frame, payload: state.payload, state: &state, direction: direction, at: now)
                state.payload = []
            }
        }
        if direction == .request { request = state } else { response = state }
        return isFollowing ? ended : []
    }

    /// The connection closed: streams still open are reported as they are.
    public mutating func finish(at now: ContinuousClock.Instant) -> [Exchange] {
        let open = streams.values.sorted { $0.stream < $1.stream }.map { exchange -> Exchange in
            var exchange = exchange
            exchange.ended = now
            return exchange
        }
        streams = [:]
        return isFollowing ? open : []
    }

    // MARK: Frames

    private mutating func count(_ frame: FrameHeader, direction: Direction, at now: ContinuousClock.Instant) {
        guard frame.stream != 0 else { return }
        // Padding is counted with the data: it crossed the wire too.
        var exchange = streams[frame.stream] ?? Exchange(stream: frame.stream, opened: now, ended: now)
        if direction == .request { exchange.bytesIn += frame.length } else { exchange.bytesOut += frame.length }
        streams[frame.stream] = exchange
    }

    private mutating func complete(_ frame: FrameHeader, payload: [UInt8], state: inout DirectionState, direction: Direction,
                                   at now: ContinuousClock.Instant) -> [Exchange] {
        switch frame.type {
        case 0x0:  // DATA
            if frame.flags & 0x1 != 0 { return streamEnded(frame.stream, direction: direction, at: now) }
            return []
        case 0x1:  // HEADERS
            var fragment = payload[...]
            var padding = 0
            if frame.flags & 0x8 != 0 {
                guard let first = fragment.first else { isFollowing = false; return [] }
                padding = Int(first)
                fragment = fragment.dropFirst()
            }
            if frame.flags & 0x20 != 0 { fragment = fragment.dropFirst(5) }
            guard fragment.count >= padding else { isFollowing = false; return [] }
            fragment = fragment.dropLast(padding)
            state.block = Array(fragment)
            state.blockStream = frame.stream
            state.blockEndsStream = frame.flags & 0x1 != 0
            if frame.flags & 0x4 != 0 { return headerBlockEnded(state: &state, direction: direction, at: now) }
            return []
        case 0x9:  // CONTINUATION
            guard state.blockStream == frame.stream else { isFollowing = false; return [] }
            state.block += payload
            if frame.flags & 0x4 != 0 { return headerBlockEnded(state: &state, direction: direction, at: now) }
            return []
        case 0x3:  // RST_STREAM
            guard payload.count == 4, var exchange = streams.removeValue(forKey: frame.stream) else { return [] }
            exchange.resetCode = UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
            exchange.ended = now
            requestEnded.remove(frame.stream)
            responseEnded.remove(frame.stream)
            return [exchange]
        default:
            return []
        }
    }

    private mutating func headerBlockEnded(state: inout DirectionState, direction: Direction, at now: ContinuousClock.Instant) -> [Exchange] {
        guard let stream = state.blockStream else { return [] }
        var buffer = ByteBuffer(bytes: state.block)
        state.block = []
        state.blockStream = nil
        guard let headers = try? state.decoder.decodeHeaders(from: &buffer) else {
            isFollowing = false
            return []
        }
        var exchange = streams[stream] ?? Exchange(stream: stream, opened: now, ended: now)
        switch direction {
        case .request:
            if exchange.method == nil {
                exchange.method = headers.first(name: ":method")
                exchange.path = headers.first(name: ":path")
            }
        case .response:
            if let status = headers.first(name: ":status").flatMap(Int.init), status >= 200 || exchange.status == nil {
                if status >= 200 { exchange.status = status }
            }
            if let grpc = headers.first(name: "grpc-status").flatMap(Int.init) { exchange.grpcStatus = grpc }
        }
        streams[stream] = exchange
        return state.blockEndsStream ? streamEnded(stream, direction: direction, at: now) : []
    }

    private mutating func streamEnded(_ stream: UInt32, direction: Direction, at now: ContinuousClock.Instant) -> [Exchange] {
        switch direction {
        case .request: requestEnded.insert(stream)
        case .response: responseEnded.insert(stream)
        }
        guard requestEnded.contains(stream) && responseEnded.contains(stream), var exchange = streams.removeValue(forKey: stream) else {
            return []
        }
        requestEnded.remove(stream)
        responseEnded.remove(stream)
        exchange.ended = now
        return [exchange]
    }
}
