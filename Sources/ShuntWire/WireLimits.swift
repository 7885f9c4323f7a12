/// The constants and hard limits of the Shunt wire protocol, version 1 (spec §2–§4, §10).
public enum WireLimits {
    /// The protocol version this implementation speaks.
    public static let protocolVersion: UInt16 = 1
    /// The ALPN token of the framing layer.
    public static let alpn = "shunt/1"
    /// `0x89 "SHUNT" CR LF`, sent by each side before its HELLO (spec §2.1).
    public static let preface: [UInt8] = [0x89, 0x53, 0x48, 0x55, 0x4E, 0x54, 0x0D, 0x0A]
    /// Octets in every frame header (spec §3).
    public static let headerSize = 12

    /// Default and bounds of `MAX_FRAME_SIZE`.
    public static let defaultMaxFrameSize: UInt32 = 16_384
    public static let minMaxFrameSize: UInt32 = 16_384
    public static let maxMaxFrameSize: UInt32 = 16_777_215
    /// Default and bounds of `MAX_METADATA_SIZE`.
    public static let defaultMaxMetadataSize: UInt32 = 8_192
    public static let minMaxMetadataSize: UInt32 = 256
    public static let maxMaxMetadataSize: UInt32 = 65_535
    /// Defaults of the window and stream-credit settings.
    public static let defaultInitialStreamWindow: UInt32 = 262_144
    public static let defaultInitialSessionWindow: UInt32 = 1_048_576
    public static let defaultInitialMaxStreams: UInt32 = 100
    /// The largest window, stream id, increment or stream credit: 2^31-1.
    public static let maxWindow: UInt32 = 0x7FFF_FFFF

    /// Longest RESET reason and GOAWAY debug text.
    public static let maxResetReason = 256
    public static let maxGoAwayDebug = 1_024
    /// Most settings in one HELLO.
    public static let maxHelloSettings = 64
    /// Most entries in one metadata block; the longest key.
    public static let maxMetadataEntries = 64
    public static let maxMetadataKeyLength = 255
}
