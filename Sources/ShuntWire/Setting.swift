/// A setting id of HELLO (spec §2.3). Unknown ids are carried and ignored.
public struct SettingID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let maxFrameSize = SettingID(rawValue: 0x0001)
    public static let initialStreamWindow = SettingID(rawValue: 0x0002)
    public static let initialSessionWindow = SettingID(rawValue: 0x0003)
    public static let initialMaxStreams = SettingID(rawValue: 0x0004)
    public static let maxMetadataSize = SettingID(rawValue: 0x0005)
    public static let compression = SettingID(rawValue: 0x0006)

    public var name: String {
        switch rawValue {
        case 0x0001: "MAX_FRAME_SIZE"
        case 0x0002: "INITIAL_STREAM_WINDOW"
        case 0x0003: "INITIAL_SESSION_WINDOW"
        case 0x0004: "INITIAL_MAX_STREAMS"
        case 0x0005: "MAX_METADATA_SIZE"
        case 0x0006: "COMPRESSION"
        default: "SETTING(0x" + String(rawValue, radix: 16) + ")"
        }
    }

    public var description: String { name }

    /// The values the spec allows for a known setting; nil for unknown ids (any value).
    public var validValues: ClosedRange<UInt32>? {
        switch rawValue {
        case 0x0001: WireLimits.minMaxFrameSize...WireLimits.maxMaxFrameSize
        case 0x0002, 0x0003, 0x0004: 0...WireLimits.maxWindow
        case 0x0005: WireLimits.minMaxMetadataSize...WireLimits.maxMaxMetadataSize
        default: nil
        }
    }
}

/// One id/value pair of a HELLO.
public struct Setting: Hashable, Sendable {
    public var id: SettingID
    public var value: UInt32

    public init(_ id: SettingID, _ value: UInt32) {
        self.id = id
        self.value = value
    }
}

/// The payload of HELLO: the sender's version range and settings (spec §2.2, §4.7).
public struct Hello: Hashable, Sendable {
    public var minVersion: UInt16
    public var maxVersion: UInt16
    /// In wire order; validated by the decoder (no id 0, no duplicates, known values in range).
    public var settings: [Setting]

    public init(minVersion: UInt16 = WireLimits.protocolVersion, maxVersion: UInt16 = WireLimits.protocolVersion, settings: [Setting] = []) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.settings = settings
    }

    /// The value of a setting, or nil when the HELLO omits it.
    public func value(of id: SettingID) -> UInt32? {
        settings.first(where: { $0.id == id })?.value
    }
}
