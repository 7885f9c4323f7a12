/// A stream id: 31 bits; 0 is the session itself (spec §3, §5.1).
public struct StreamID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    @inlinable
    public init(_ value: UInt32) { self.rawValue = value }

    /// Stream 0: frames that concern the whole session.
    public static let session = StreamID(0)
    /// The largest id a stream may have (2^31-1).
    public static let max = StreamID(0x7FFF_FFFF)

    @inlinable public var isSession: Bool { rawValue == 0 }
    /// Odd ids are opened by the client (the laptop), even ids by the server (the agent).
    @inlinable public var isClientInitiated: Bool { rawValue & 1 == 1 }
    @inlinable public var isServerInitiated: Bool { rawValue != 0 && rawValue & 1 == 0 }

    @inlinable
    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}
