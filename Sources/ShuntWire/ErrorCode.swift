/// An error code carried by RESET and GOAWAY (spec §9.1). Any 32-bit value may arrive; unknown ones keep their number.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = ErrorCode(rawValue: 0x00)
    public static let protocolError = ErrorCode(rawValue: 0x01)
    public static let internalError = ErrorCode(rawValue: 0x02)
    public static let flowControlError = ErrorCode(rawValue: 0x03)
    public static let frameSizeError = ErrorCode(rawValue: 0x04)
    public static let settingsError = ErrorCode(rawValue: 0x05)
    public static let streamClosed = ErrorCode(rawValue: 0x06)
    public static let refusedStream = ErrorCode(rawValue: 0x07)
    public static let cancel = ErrorCode(rawValue: 0x08)
    public static let versionMismatch = ErrorCode(rawValue: 0x09)
    public static let enhanceYourCalm = ErrorCode(rawValue: 0x0A)
    public static let streamLimitError = ErrorCode(rawValue: 0x0B)
    public static let metadataError = ErrorCode(rawValue: 0x0C)
    public static let compressionError = ErrorCode(rawValue: 0x0D)
    public static let connectError = ErrorCode(rawValue: 0x0E)
    public static let unsupportedKind = ErrorCode(rawValue: 0x0F)
    public static let timeout = ErrorCode(rawValue: 0x10)
    public static let unauthorized = ErrorCode(rawValue: 0x11)

    private static let names: [String] = [
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "FRAME_SIZE_ERROR",
        "SETTINGS_ERROR", "STREAM_CLOSED", "REFUSED_STREAM", "CANCEL", "VERSION_MISMATCH",
        "ENHANCE_YOUR_CALM", "STREAM_LIMIT_ERROR", "METADATA_ERROR", "COMPRESSION_ERROR",
        "CONNECT_ERROR", "UNSUPPORTED_KIND", "TIMEOUT", "UNAUTHORIZED",
    ]

    /// The codes this version of the spec defines.
    public static let allDefined: [ErrorCode] = (0..<UInt32(names.count)).map { ErrorCode(rawValue: $0) }

    /// The spec's name, or nil for a code this version does not define.
    public var name: String? {
        rawValue < UInt32(Self.names.count) ? Self.names[Int(rawValue)] : nil
    }

    /// Looks a code up by its spec name (`"FLOW_CONTROL_ERROR"`).
    public init?(name: String) {
        guard let index = Self.names.firstIndex(of: name) else { return nil }
        self.rawValue = UInt32(index)
    }

    /// How a receiver acts on the code: unknown codes behave as INTERNAL_ERROR (spec §9.1).
    public var effective: ErrorCode { name == nil ? .internalError : self }

    /// `FLOW_CONTROL_ERROR`, or `0x80000001` for a code without a name.
    public var description: String {
        name ?? "0x" + String(rawValue, radix: 16)
    }
}
