import NIOCore
import ShuntWire

/// Which way a byte stream flows, when the input says (a tshark "follow" transcript does).
public enum WireDirection: String, Hashable, Sendable, CaseIterable {
    /// Laptop to agent: the TLS client's bytes (tshark's node 0, the side that connected).
    case clientToServer = ">"
    /// Agent to laptop: the TLS server's bytes.
    case serverToClient = "<"

    /// The JSON name.
    public var name: String { self == .clientToServer ? "client" : "server" }
}

/// One item of a decoded byte stream: the preface, a frame, or a malformed region, with the exact
/// octets it covers and where they start.
public struct WireRecord: Hashable, Sendable {
    public enum Content: Hashable, Sendable {
        case preface
        case frame(Frame)
        /// `error` names the first failure (spec §3.1); `bytes` run from the failing frame to where
        /// decoding resumed (or to the end of the input when it could not).
        case malformed(FrameDecodingError, resumed: Bool)
    }

    /// Octet offset in this direction's byte stream.
    public var offset: Int
    public var direction: WireDirection?
    public var content: Content
    /// The octets this record covers, exactly as they were in the input.
    public var bytes: ByteBuffer

    public init(offset: Int, direction: WireDirection? = nil, content: Content, bytes: ByteBuffer) {
        self.offset = offset
        self.direction = direction
        self.content = content
        self.bytes = bytes
    }

    public var frame: Frame? {
        if case .frame(let frame) = content { return frame }
        return nil
    }

    public var error: FrameDecodingError? {
        if case .malformed(let error, _) = content { return error }
        return nil
    }
}
