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
    public static let httpKeepAlive = SettingID(rawValue: 0x0007)

    /// The ids this version of the spec defines (§2.3), in id order.
    public static let known: [SettingID] = (0x0001...0x0007).map { SettingID(rawValue: $0) }

    public var name: String {
        switch rawValue {
        case 0x0001: "MAX_FRAME_SIZE"
        case 0x0002: "INITIAL_STREAM_WINDOW"
        case 0x0003: "INITIAL_SESSION_WINDOW"
        case 0x0004: "INITIAL_MAX_STREAMS"
        case 0x0005: "MAX_METADATA_SIZE"
        case 0x0006: "COMPRESSION"
        case 0x0007: "HTTP_KEEP_ALIVE"
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
        case 0x0007: 0...1
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

extension Hello {
    /// The two sides' version ranges do not overlap (spec §2.2).
    public struct VersionMismatch: Error, Hashable, Sendable, CustomStringConvertible {
        public var local: ClosedRange<UInt16>
        public var peer: ClosedRange<UInt16>

        /// The GOAWAY debug text: `version mismatch: we speak 1..1, peer speaks 2..3`.
        public var description: String {
            "version mismatch: we speak \(local.lowerBound)..\(local.upperBound), peer speaks \(peer.lowerBound)..\(peer.upperBound)"
        }
    }

    /// The negotiated version: the highest both speak. Both sides compute the same from the two HELLOs.
    public static func negotiateVersion(local: Hello, peer: Hello) -> Result<UInt16, VersionMismatch> {
        let highest = min(local.maxVersion, peer.maxVersion)
        guard highest >= max(local.minVersion, peer.minVersion) else {
            return .failure(VersionMismatch(local: local.minVersion...local.maxVersion, peer: peer.minVersion...peer.maxVersion))
        }
        return .success(highest)
    }
}

/// A HELLO's settings with the defaults of spec §2.3 filled in: what its sender accepts.
public struct PeerSettings: Hashable, Sendable {
    public var maxFrameSize: UInt32 = WireLimits.defaultMaxFrameSize
    public var initialStreamWindow: UInt32 = WireLimits.defaultInitialStreamWindow
    public var initialSessionWindow: UInt32 = WireLimits.defaultInitialSessionWindow
    public var initialMaxStreams: UInt32 = WireLimits.defaultInitialMaxStreams
    public var maxMetadataSize: UInt32 = WireLimits.defaultMaxMetadataSize
    public var compression: UInt32 = 0
    /// 1: the sender serves one HTTP exchange after another on an HTTP stream (spec §10.2).
    public var httpKeepAlive: UInt32 = 0

    public init() {}

    /// Reads the settings of a (decoded, hence validated) HELLO; unknown ids are ignored.
    public init(_ hello: Hello) {
        for setting in hello.settings {
            switch setting.id {
            case .maxFrameSize: maxFrameSize = setting.value
            case .initialStreamWindow: initialStreamWindow = setting.value
            case .initialSessionWindow: initialSessionWindow = setting.value
            case .initialMaxStreams: initialMaxStreams = setting.value
            case .maxMetadataSize: maxMetadataSize = setting.value
            case .compression: compression = setting.value
            case .httpKeepAlive: httpKeepAlive = setting.value
            default: break
            }
        }
    }

    /// Bit 0 of `COMPRESSION`: the sender can decompress DEFLATE (spec §12).
    public var acceptsDeflate: Bool { compression & 1 != 0 }

    /// `HTTP_KEEP_ALIVE` is 1: an HTTP stream to the sender may carry several exchanges in turn (spec §10.2).
    public var servesHTTPKeepAlive: Bool { httpKeepAlive == 1 }

    /// The settings as HELLO entries, omitting those equal to their default.
    public var helloSettings: [Setting] {
        var settings: [Setting] = []
        let defaults = PeerSettings()
        if maxFrameSize != defaults.maxFrameSize { settings.append(Setting(.maxFrameSize, maxFrameSize)) }
        if initialStreamWindow != defaults.initialStreamWindow { settings.append(Setting(.initialStreamWindow, initialStreamWindow)) }
        if initialSessionWindow != defaults.initialSessionWindow { settings.append(Setting(.initialSessionWindow, initialSessionWindow)) }
        if initialMaxStreams != defaults.initialMaxStreams { settings.append(Setting(.initialMaxStreams, initialMaxStreams)) }
        if maxMetadataSize != defaults.maxMetadataSize { settings.append(Setting(.maxMetadataSize, maxMetadataSize)) }
        if compression != defaults.compression { settings.append(Setting(.compression, compression)) }
        if httpKeepAlive != defaults.httpKeepAlive { settings.append(Setting(.httpKeepAlive, httpKeepAlive)) }
        return settings
    }

    /// The limits a decoder of frames sent to the owner of these settings enforces.
    public var decoderLimits: FrameDecoder.Limits {
        FrameDecoder.Limits(maxFrameSize: maxFrameSize, maxMetadataSize: maxMetadataSize)
    }
}
