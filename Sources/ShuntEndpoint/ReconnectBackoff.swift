import NIOCore

/// How long to wait before each attempt to reach the agent again: doubling from `initial`, at most
/// `maximum`.
public struct ReconnectBackoff: Sendable, Hashable {
    public static let initialDelay = TimeAmount.milliseconds(250)
    public static let maximumDelay = TimeAmount.seconds(5)

    public var initial: TimeAmount
    public var maximum: TimeAmount

    public init(initial: TimeAmount = initialDelay, maximum: TimeAmount = maximumDelay) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before attempt `attempt` (0: the first after the loss).
    public func delay(attempt: Int) -> TimeAmount {
        var delay = initial
        for _ in 0..<min(max(attempt, 0), 32) where delay < maximum {
            delay = delay * 2
        }
        return min(delay, maximum)
    }
}
