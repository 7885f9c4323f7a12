import NIOCore

/// One frame of the Shunt wire protocol (spec §4): the stream it belongs to and its typed payload.
/// Byte payloads (DATA, reasons, debug text, metadata) are slices of the buffer they were decoded from.
public struct Frame: Hashable, Sendable {
    public var streamID: StreamID
    public var payload: Payload

    @inlinable
    public init(streamID: StreamID, payload: Payload) {
        self.streamID = streamID
        self.payload = payload
    }

    public enum Payload: Hashable, Sendable {
        /// Stream bytes; `fin` ends the sender's direction, `compressed` marks DEFLATE (spec §12).
        case data(ByteBuffer, fin: Bool = false, compressed: Bool = false)
        /// Opens `streamID` for `kind`; `fin` means the opener sends no data.
        case streamOpen(kind: StreamKind, metadata: StreamMetadata, fin: Bool = false)
        /// Ends the stream in both directions; `reason` is UTF-8 text for people (≤ 256 octets).
        case reset(ErrorCode, reason: ByteBuffer = ByteBuffer())
        /// Adds `increment` (1…2^31-1) to the stream's window, or the session's on stream 0.
        case windowUpdate(increment: UInt32)
        /// Liveness probe; with `ack` it is the answer carrying the same opaque value.
        case ping(opaque: UInt64, ack: Bool = false)
        /// The session is ending; `lastStreamID` is the highest peer stream that will be processed.
        case goAway(lastStreamID: StreamID, code: ErrorCode, debug: ByteBuffer = ByteBuffer())
        /// The first frame of each side: versions and settings.
        case hello(Hello)
        /// Cumulative count of streams the receiver may have opened (spec §5.4).
        case maxStreams(UInt32)
        /// A frame of type 0x80–0xFF, kept whole so that tools can show it; receivers ignore it.
        case `extension`(type: FrameType, flags: UInt8, payload: ByteBuffer)
    }

    /// The type octet this frame is encoded with.
    @inlinable
    public var type: FrameType {
        switch payload {
        case .data: .data
        case .streamOpen: .streamOpen
        case .reset: .reset
        case .windowUpdate: .windowUpdate
        case .ping: .ping
        case .goAway: .goAway
        case .hello: .hello
        case .maxStreams: .maxStreams
        case .extension(let type, _, _): type
        }
    }

    /// The flags octet this frame is encoded with.
    @inlinable
    public var flags: UInt8 {
        switch payload {
        case .data(_, let fin, let compressed):
            (fin ? FrameFlags.fin : 0) | (compressed ? FrameFlags.compressed : 0)
        case .streamOpen(_, _, let fin):
            fin ? FrameFlags.fin : 0
        case .ping(_, let ack):
            ack ? FrameFlags.ack : 0
        case .extension(_, let flags, _):
            flags
        case .reset, .windowUpdate, .goAway, .hello, .maxStreams:
            0
        }
    }

    /// The payload length this frame is encoded with.
    @inlinable
    public var payloadLength: Int {
        switch payload {
        case .data(let bytes, _, _): bytes.readableBytes
        case .streamOpen(_, let metadata, _): 1 + metadata.bytes.readableBytes
        case .reset(_, let reason): 4 + reason.readableBytes
        case .windowUpdate, .maxStreams: 4
        case .ping: 8
        case .goAway(_, _, let debug): 8 + debug.readableBytes
        case .hello(let hello): 4 + 6 * hello.settings.count
        case .extension(_, _, let payload): payload.readableBytes
        }
    }
}

extension Frame {
    /// A DATA frame.
    @inlinable
    public static func data(_ stream: StreamID, _ bytes: ByteBuffer, fin: Bool = false, compressed: Bool = false) -> Frame {
        Frame(streamID: stream, payload: .data(bytes, fin: fin, compressed: compressed))
    }

    /// A RESET frame with a reason for people.
    public static func reset(_ stream: StreamID, _ code: ErrorCode, reason: String = "") -> Frame {
        Frame(streamID: stream, payload: .reset(code, reason: ByteBuffer(string: reason)))
    }

    /// A GOAWAY frame with debug text for people.
    public static func goAway(lastStreamID: StreamID, _ code: ErrorCode, debug: String = "") -> Frame {
        Frame(streamID: .session, payload: .goAway(lastStreamID: lastStreamID, code: code, debug: ByteBuffer(string: debug)))
    }
}
