import NIOCore
import ShuntMatch

/// What the laptop side tells the developer about, as it happens.
public enum EndpointEvent: Sendable {
    /// The intercept exists: from now on matching traffic arrives here.
    case intercepted(InterceptCalls.Intercept)
    case tunnelLost(reason: String, retryIn: TimeAmount)
    case reconnectFailed(reason: String, retryIn: TimeAmount)
    /// The session is back and the same rule registered again.
    case reconnected(InterceptCalls.Intercept)
    /// A stream could not reach the local service (said once until it answers again).
    case localUnreachable(String)
    case localReachable(address: String)
    /// The service refused at `from` and answers at `to` (127.0.0.1 and ::1, see `LocalTarget`):
    /// requests go there from now on.
    case localMoved(from: String, to: String)
    case request(RequestLogLine)
    case removed(name: String)
    case removalFailed(name: String, reason: String)
}
