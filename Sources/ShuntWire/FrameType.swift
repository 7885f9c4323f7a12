/// The type octet of a frame header (spec §4). Types 0x08–0x7F are reserved, 0x80–0xFF are extensions.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let data = FrameType(rawValue: 0x00)
    public static let streamOpen = FrameType(rawValue: 0x01)
    public static let reset = FrameType(rawValue: 0x02)
    public static let windowUpdate = FrameType(rawValue: 0x03)
    public static let ping = FrameType(rawValue: 0x04)
    public static let goAway = FrameType(rawValue: 0x05)
    public static let hello = FrameType(rawValue: 0x06)
    public static let maxStreams = FrameType(rawValue: 0x07)

    /// The first type of the extension range; extension frames are ignored by receivers that do not know them.
    public static let firstExtension: UInt8 = 0x80

    @inlinable public var isExtension: Bool { rawValue >= FrameType.firstExtension }
    @inlinable public var isDefined: Bool { rawValue <= 0x07 }

    /// The spec's name, or `EXTENSION(0x..)` / `RESERVED(0x..)`.
    public var name: String {
        switch rawValue {
        case 0x00: "DATA"
        case 0x01: "STREAM_OPEN"
        case 0x02: "RESET"
        case 0x03: "WINDOW_UPDATE"
        case 0x04: "PING"
        case 0x05: "GOAWAY"
        case 0x06: "HELLO"
        case 0x07: "MAX_STREAMS"
        default: (isExtension ? "EXTENSION(0x" : "RESERVED(0x") + hex2(rawValue) + ")"
        }
    }

    public var description: String { name }

    /// Flag bits this type defines; any other bit set is `UNDEFINED_FLAGS` (spec §3.1 step 4).
    @inlinable
    public var definedFlags: UInt8 {
        switch rawValue {
        case 0x00: FrameFlags.fin | FrameFlags.compressed
        case 0x01: FrameFlags.fin
        case 0x04: FrameFlags.ack
        default: 0
        }
    }
}

/// Flag bits of the frame header (spec §4).
public enum FrameFlags {
    /// DATA, STREAM_OPEN: the sender's direction of the stream ends here.
    public static let fin: UInt8 = 0x01
    /// DATA: the payload is DEFLATE-compressed (spec §12).
    public static let compressed: UInt8 = 0x02
    /// PING: this is the answer (PONG).
    public static let ack: UInt8 = 0x01
}

@usableFromInline
func hex2(_ value: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(value >> 4)], digits[Int(value & 0xF)]])
}
