import ShuntWire

/// A flow-control window (spec §6): credit in octets, never negative and never above 2^31-1.
public struct FlowWindow: Hashable, Sendable, CustomStringConvertible {
    public private(set) var available: Int

    public init(_ initial: UInt32) {
        self.available = Int(initial)
    }

    /// Adds a WINDOW_UPDATE increment; past 2^31-1 is a FLOW_CONTROL_ERROR (spec §6.1).
    public mutating func increase(by increment: UInt32) throws(WindowOverflow) {
        let next = available + Int(increment)
        guard next <= Int(WireLimits.maxWindow) else { throw WindowOverflow(current: available, increment: increment) }
        available = next
    }

    /// Takes `octets` of credit; the caller has checked `available` first.
    public mutating func consume(_ octets: Int) {
        precondition(octets <= available, "sending beyond the window")
        available -= octets
    }

    public var description: String { String(available) }

    public struct WindowOverflow: Error, Hashable, Sendable {
        public var current: Int
        public var increment: UInt32
    }
}
