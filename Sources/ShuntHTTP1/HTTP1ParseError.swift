/// A message the edge refuses: which rule broke, where, and what the client is answered.
///
/// `offset` counts octets from the start of the message part that failed: for a head, from the first
/// octet fed to the head parser for this message (skipped leading empty lines included); for a body,
/// from the first body octet. A broken *response* is always answered `502 Bad Gateway`, whatever its
/// kind; `status` is the answer to a client whose *request* broke the rule.
public struct HTTP1ParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        // Lines and bytes (RFC 9112 §2.2).
        case bareLineFeed = "BARE_LF"
        case bareCarriageReturn = "BARE_CR"
        case nulByte = "NUL_BYTE"
        case tooManyLeadingEmptyLines = "LEADING_EMPTY_LINES"
        // Start lines (§3, §4).
        case malformedRequestLine = "BAD_REQUEST_LINE"
        case invalidMethod = "BAD_METHOD"
        case invalidRequestTarget = "BAD_REQUEST_TARGET"
        case requestTargetTooLong = "REQUEST_TARGET_TOO_LONG"
        case malformedVersion = "BAD_VERSION"
        case unsupportedVersion = "UNSUPPORTED_VERSION"
        case malformedStatusLine = "BAD_STATUS_LINE"
        // Field lines (§5).
        case obsoleteLineFolding = "OBS_FOLD"
        case missingColon = "MISSING_COLON"
        case emptyFieldName = "EMPTY_FIELD_NAME"
        case whitespaceBeforeColon = "WHITESPACE_BEFORE_COLON"
        case invalidFieldName = "BAD_FIELD_NAME"
        case invalidFieldValue = "BAD_FIELD_VALUE"
        case headTooLarge = "HEAD_TOO_LARGE"
        case tooManyFields = "TOO_MANY_FIELDS"
        // Host (RFC 9110 §7.2, RFC 9112 §3.2).
        case missingHost = "MISSING_HOST"
        case duplicateHost = "DUPLICATE_HOST"
        case invalidHost = "BAD_HOST"
        case hostMismatch = "HOST_MISMATCH"
        // Framing (§6).
        case contentLengthWithTransferEncoding = "CL_AND_TE"
        case duplicateContentLength = "DUPLICATE_CL"
        case invalidContentLength = "BAD_CL"
        case transferEncodingInHTTP10 = "TE_IN_HTTP10"
        case invalidTransferEncoding = "BAD_TE"
        case chunkedNotFinal = "CHUNKED_NOT_FINAL"
        case chunkedAppliedTwice = "CHUNKED_TWICE"
        case unsupportedTransferCoding = "UNSUPPORTED_TE"
        case unexpectedSwitchingProtocols = "UNEXPECTED_101"
        // Chunked bodies (§7.1).
        case invalidChunkSize = "BAD_CHUNK_SIZE"
        case chunkSizeTooLarge = "CHUNK_SIZE_TOO_LARGE"
        case invalidChunkExtension = "BAD_CHUNK_EXT"
        case chunkLineTooLong = "CHUNK_LINE_TOO_LONG"
        case missingCRLFAfterChunkData = "MISSING_CHUNK_CRLF"
        case trailerTooLarge = "TRAILER_TOO_LARGE"
        case forbiddenTrailerField = "FORBIDDEN_TRAILER_FIELD"
        // End of input.
        case truncatedMessage = "TRUNCATED_MESSAGE"

        /// What the edge answers a client whose request broke this rule (then it closes).
        public var status: Int {
            switch self {
            case .headTooLarge, .tooManyFields, .trailerTooLarge: 431
            case .requestTargetTooLong: 414
            case .unsupportedTransferCoding: 501
            case .unsupportedVersion: 505
            case .unexpectedSwitchingProtocols, .malformedStatusLine: 502
            default: 400
            }
        }
    }

    public var kind: Kind
    public var offset: Int
    /// What exactly was wrong, for the log.
    public var detail: String

    public init(_ kind: Kind, offset: Int, detail: String) {
        self.kind = kind
        self.offset = offset
        self.detail = detail
    }

    /// The stable code for logs and metrics, e.g. `CL_AND_TE`.
    public var code: String { kind.rawValue }
    public var status: Int { kind.status }

    /// `CL_AND_TE at octet 58: Content-Length and Transfer-Encoding together (400)`
    public var description: String {
        "\(kind.rawValue) at octet \(offset): \(detail) (\(status))"
    }
}
