import NIOCore
import ShuntWire

/// What a session tells its owner. Drained with `SessionStateMachine.nextEvent()`.
public enum SessionEvent: Hashable, Sendable {
    /// Both HELLOs are exchanged: streams may be opened.
    case ready(version: UInt16, peer: PeerSettings)
    /// The peer opened a stream. Serve it, or reset it (`UNSUPPORTED_KIND`, `REFUSED_STREAM`, …).
    case streamOpened(StreamID, kind: StreamKind, metadata: StreamMetadata, fin: Bool)
    /// Bytes for a stream. Call `consumed(_:octets:now:)` once they are passed on, to grant window.
    /// `compressed`: one DEFLATE unit of the stream's inbound context (spec §12), still to be inflated;
    /// the octets to report consumed are the compressed ones.
    case data(StreamID, ByteBuffer, fin: Bool, compressed: Bool = false)
    /// A stream that was not writable can take data again.
    case writable(StreamID)
    /// A stream ended abruptly; `byPeer` says who reset it. `REFUSED_STREAM` means it was never processed.
    case reset(StreamID, code: ErrorCode, reason: String, byPeer: Bool)
    /// Both directions of a stream are finished.
    case closed(StreamID)
    /// The peer granted more streams: a blocked `openStream` may be retried.
    case streamCreditAvailable
    /// The peer sent GOAWAY: open no more streams; those above `lastStreamID` were reset as refused.
    case goAwayReceived(lastStreamID: StreamID, code: ErrorCode, debug: String)
    /// A PING round trip completed.
    case roundTrip(TimeAmount)
    /// The session is over. Flush what `nextOutboundFrame()` still returns, then close the connection.
    case ended(SessionError?)
}
