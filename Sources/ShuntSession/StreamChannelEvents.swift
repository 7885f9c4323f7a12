import ShuntWire

/// The stream was reset (spec §4.3). Fired through the stream channel's pipeline as an error before it closes.
public struct StreamResetError: Error, Hashable, Sendable, CustomStringConvertible {
    public var streamID: StreamID
    public var code: ErrorCode
    public var reason: String
    /// True when the peer sent the RESET; false when this side's session reset it (a session error, a timeout).
    public var byPeer: Bool

    public var description: String {
        "stream \(streamID) reset by \(byPeer ? "the peer" : "this side") with \(code)" + (reason.isEmpty ? "" : ": \(reason)")
    }
}

/// Why opening a stream failed.
public struct StreamOpenError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: StreamOperationError
    public var description: String { "cannot open a stream: \(reason)" }
}
