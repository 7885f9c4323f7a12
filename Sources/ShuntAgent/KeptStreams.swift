import NIOCore
import ShuntSession

/// How many tunnel streams the edge keeps alive for further HTTP exchanges, per laptop session
/// (spec §10.2). A stream is kept only when the laptop's HELLO set `HTTP_KEEP_ALIVE`, no stream
/// waits for the laptop's credit, and fewer than half of the laptop's `INITIAL_MAX_STREAMS` are kept
/// already: the streams that do close then always add up to the laptop's next grant of credit
/// (it re-grants in batches of half), so kept streams, idle or not, never stop new ones from opening.
///
/// Confined to the agent's one event loop, like the edge and the sessions.
final class KeptStreams: @unchecked Sendable {
    private var counts: [ObjectIdentifier: Int] = [:]

    /// The most streams of `session` kept at once.
    static func limit(for session: SessionHandler) -> Int {
        Int(session.peerSettings.initialMaxStreams) / 2
    }

    /// Counts `stream` as kept for `session` until it closes, if the budget allows; false otherwise
    /// (then the stream ends after its exchange).
    func take(_ stream: Channel, of session: SessionHandler) -> Bool {
        guard session.peerSettings.servesHTTPKeepAlive, session.streamsWaitingForCredit == 0 else { return false }
        let key = ObjectIdentifier(session)
        let count = counts[key, default: 0]
        guard count < Self.limit(for: session) else { return false }
        counts[key] = count + 1
        stream.closeFuture.whenComplete { _ in self.release(key) }
        return true
    }

    private func release(_ key: ObjectIdentifier) {
        guard let count = counts[key] else { return }
        if count <= 1 { counts[key] = nil } else { counts[key] = count - 1 }
    }
}
