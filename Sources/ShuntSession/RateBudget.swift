import NIOCore

/// A token bucket: at most `limit` events per `period`, refilled continuously (spec §8).
public struct RateBudget: Hashable, Sendable {
    public let limit: Int
    public let period: TimeAmount
    /// Events in the bucket, scaled by `period` nanoseconds so refill needs no division per event.
    private var level: Int64
    private var updated: NIODeadline
    /// How many events were counted in total, for metrics and the GOAWAY text.
    public private(set) var total: Int = 0

    public init(limit: Int, per period: TimeAmount, now: NIODeadline) {
        precondition(limit > 0 && period.nanoseconds > 0)
        self.limit = limit
        self.period = period
        self.level = 0
        self.updated = now
    }

    /// Counts one event; false when it exceeds the budget.
    public mutating func record(now: NIODeadline) -> Bool {
        total += 1
        let elapsed = max(0, (now - updated).nanoseconds)
        updated = now
        // Each event adds `period`; time drains `limit` per nanosecond. Over budget when above limit*period.
        let drained = elapsed.multipliedReportingOverflow(by: Int64(limit))
        level = drained.overflow ? 0 : max(0, level - drained.partialValue)
        level += period.nanoseconds
        return level <= Int64(limit) * period.nanoseconds
    }
}
