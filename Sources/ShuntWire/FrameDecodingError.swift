/// A malformed byte stream (spec §3.1): which rule broke, where, and the code to send the peer.
public struct FrameDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The malformation names of spec §3.1, §2.1.
    public enum Malformation: String, Hashable, Sendable, CaseIterable {
        case badPreface = "BAD_PREFACE"
        case truncatedFrame = "TRUNCATED_FRAME"
        case frameTooLarge = "FRAME_TOO_LARGE"
        case reservedBitsSet = "RESERVED_BITS_SET"
        case unknownFrameType = "UNKNOWN_FRAME_TYPE"
        case undefinedFlags = "UNDEFINED_FLAGS"
        case zeroStreamID = "ZERO_STREAM_ID"
        case nonzeroStreamID = "NONZERO_STREAM_ID"
        case badFrameLength = "BAD_FRAME_LENGTH"
        case metadataTooLarge = "METADATA_TOO_LARGE"
        case zeroWindowIncrement = "ZERO_WINDOW_INCREMENT"
        case badHello = "BAD_HELLO"
        case badSettingValue = "BAD_SETTING_VALUE"
        case badMetadata = "BAD_METADATA"

        /// The code a receiver sends in its GOAWAY; nil when the input simply ended.
        public var code: ErrorCode? {
            switch self {
            case .truncatedFrame: nil
            case .frameTooLarge, .badFrameLength: .frameSizeError
            case .badSettingValue: .settingsError
            case .metadataTooLarge, .badMetadata: .metadataError
            case .badPreface, .reservedBitsSet, .unknownFrameType, .undefinedFlags, .zeroStreamID,
                 .nonzeroStreamID, .zeroWindowIncrement, .badHello:
                .protocolError
            }
        }
    }

    public var malformation: Malformation
    /// Octet offset, in the whole decoded stream, where the offending frame (or the preface) starts.
    public var offset: Int
    /// What exactly was wrong, for the log and the GOAWAY debug text.
    public var detail: String

    public init(_ malformation: Malformation, offset: Int, detail: String) {
        self.malformation = malformation
        self.offset = offset
        self.detail = detail
    }

    public var code: ErrorCode? { malformation.code }

    /// `FRAME_TOO_LARGE at octet 24: length 16385 exceeds MAX_FRAME_SIZE 16384`
    public var description: String {
        "\(malformation.rawValue) at octet \(offset): \(detail)"
    }
}
