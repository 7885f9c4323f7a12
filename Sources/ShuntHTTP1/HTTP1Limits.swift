/// Every bound the HTTP/1.1 edge puts on what a peer may send, by name. Each has a test at the limit:
/// a message exactly at it passes, one byte (or field) more is refused.
public struct HTTP1Limits: Hashable, Sendable {
    /// Bytes of a request or response head, start line through the empty line's CRLF (431 when exceeded).
    public var maxHeadSize: Int
    /// Header field lines in one head, and field lines in one trailer section (431 when exceeded).
    public var maxHeaderCount: Int
    /// Bytes of a request-target (414 when exceeded).
    public var maxRequestTargetLength: Int
    /// Empty lines (CRLF) ignored before a request-line (RFC 9112 §2.2 asks for at least one).
    public var maxLeadingEmptyLines: Int
    /// Bytes of one chunk-size line, extensions included, CRLF excluded.
    public var maxChunkLineLength: Int
    /// Largest chunk-size accepted; the parser never overflows past it.
    public var maxChunkSize: Int64
    /// Bytes of a trailer section, its final CRLF included (431 when exceeded).
    public var maxTrailerSize: Int

    public init(
        maxHeadSize: Int = 65_536,
        maxHeaderCount: Int = 100,
        maxRequestTargetLength: Int = 8_192,
        maxLeadingEmptyLines: Int = 1,
        maxChunkLineLength: Int = 1_024,
        maxChunkSize: Int64 = .max,
        maxTrailerSize: Int = 16_384
    ) {
        self.maxHeadSize = maxHeadSize
        self.maxHeaderCount = maxHeaderCount
        self.maxRequestTargetLength = maxRequestTargetLength
        self.maxLeadingEmptyLines = maxLeadingEmptyLines
        self.maxChunkLineLength = maxChunkLineLength
        self.maxChunkSize = maxChunkSize
        self.maxTrailerSize = maxTrailerSize
    }
}
