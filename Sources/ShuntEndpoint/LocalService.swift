import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The developer's service on this laptop, as every forwarder of one `shunt intercept` sees it: the
/// address it is reached at (`LocalTarget`) and whether the developer has been told it cannot be
/// reached. An intercept on a service with several replicas holds a session, and a forwarder, per
/// replica's agent; they share one `LocalService`, so the developer is warned once per episode and
/// told once that the service moved, whichever replica's request found it out, and a probe at
/// start counts for all of them.
public final class LocalService: Sendable {
    public let port: Int
    /// Whose laptop, for the reason the caller may see.
    public let developer: String
    /// 127.0.0.1:`port` or [::1]:`port`, made once: a name lookup per stream cost more than the connect.
    public let target: LocalTarget
    private let events: @Sendable (EndpointEvent) -> Void
    private let warned = NIOLockedValueBox(false)

    /// `events` is told of the warnings and the moves (`localUnreachable`, `localReachable`, `localMoved`).
    public init(port: Int, developer: String, events: @escaping @Sendable (EndpointEvent) -> Void) {
        self.port = port
        self.developer = developer
        self.target = LocalTarget(port: port) { from, to in
            events(.localMoved(from: LocalTarget.text(from), to: LocalTarget.text(to)))
        }
        self.events = events
    }

    /// Where streams go now, as the developer reads it: `127.0.0.1:8080` or `[::1]:8080`.
    public var address: String { target.text }

    /// "nothing listens on 127.0.0.1:8080 on alice's laptop", or the connect error.
    func unreachableReason(_ error: Error) -> String {
        let cause = InterceptClientError.describeConnectFailure(error)
        if cause == InterceptClientError.describe(errno: ECONNREFUSED) {
            return "nothing listens on \(address) on \(developer)'s laptop"
        }
        return "cannot connect to \(address) on \(developer)'s laptop: \(cause)"
    }

    /// The service could not be reached: the developer is warned (once per episode), and the reason,
    /// naming the address, is returned for the stream's reset.
    func unanswered(_ error: Error) -> String {
        let reason = unreachableReason(error)
        let first = warned.withLockedValue { warned in
            defer { warned = true }
            return !warned
        }
        if first { events(.localUnreachable(reason)) }
        return reason
    }

    /// The service answered: after a warning, the developer is told it answers now.
    func answered() {
        let wasWarned = warned.withLockedValue { warned in
            defer { warned = false }
            return warned
        }
        if wasWarned { events(.localReachable(address: address)) }
    }
}
