import ShuntWire

/// Why a session ended: the code sent (or received) in GOAWAY and a sentence a person can act on.
public struct SessionError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Origin: Hashable, Sendable {
        /// This side found the problem and sent GOAWAY with `code`.
        case local
        /// The peer sent GOAWAY with `code`.
        case peer
        /// The transport went away (connection closed, reset, or the peer went silent).
        case transport
    }

    public var code: ErrorCode
    public var origin: Origin
    public var message: String

    public init(_ code: ErrorCode, _ origin: Origin, _ message: String) {
        self.code = code
        self.origin = origin
        self.message = message
    }

    public var description: String {
        switch origin {
        case .local: "\(code): \(message)"
        case .peer: "peer ended the session with \(code)" + (message.isEmpty ? "" : ": \(message)")
        case .transport: "connection lost: \(message)"
        }
    }
}

/// Why a local request (open a stream, send) cannot be done now.
public enum StreamOperationError: Error, Hashable, Sendable {
    /// The peer has not granted credit for another stream yet (spec §5.4); wait for `.streamCreditAvailable`.
    case noStreamCredit
    /// The session is ending (a GOAWAY was sent or received) or has ended.
    case sessionClosing
    /// The HELLO exchange has not finished.
    case notReady
    /// No such stream, or it is closed or reset.
    case unknownStream(StreamID)
    /// This side already sent FIN on the stream.
    case alreadyFinished(StreamID)
    /// The stream's send buffer is full: wait until it is writable again.
    case sendBufferFull(StreamID)
    /// The metadata block is larger than the peer accepts.
    case metadataTooLarge(Int, limit: UInt32)
    /// This side has used every stream id.
    case streamIDsExhausted
    /// COMPRESSED data, but the peer did not offer to decompress (spec §12).
    case compressionNotNegotiated
    /// A compressed unit must be 1 … `maxCompressedUnit` octets: it goes whole in one frame.
    case compressedUnitSize(Int, limit: Int)
}
