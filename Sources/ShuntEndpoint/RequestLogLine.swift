import Foundation

/// One line of the request log: what came in on an HTTP stream and what went back.
public struct RequestLogLine: Sendable, Hashable {
    /// When the agent opened the stream.
    public var start: Date
    /// From the request line; nil when the first octets were not an HTTP request line.
    public var method: String?
    public var path: String?
    /// The final response's status; nil when none was seen (the local service closed, or not HTTP).
    public var status: Int?
    /// Stream opened → stream closed.
    public var duration: Duration
    /// Octets from the agent (the request) and back to it (the response).
    public var bytesIn: Int
    public var bytesOut: Int
    public var intercept: String?
    public var requestID: String?
    public var client: String?

    public init(start: Date, method: String?, path: String?, status: Int?, duration: Duration, bytesIn: Int, bytesOut: Int,
                intercept: String? = nil, requestID: String? = nil, client: String? = nil) {
        self.start = start
        self.method = method
        self.path = path
        self.status = status
        self.duration = duration
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.intercept = intercept
        self.requestID = requestID
        self.client = client
    }

    /// `14:03:07  GET /api/orders  200  12 ms  in 312 B  out 1.2 KiB`, in the local time zone.
    public func text(timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute, .second], from: start)
        let time = [parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0].map(Self.twoDigits).joined(separator: ":")
        return "\(time)  \(method ?? "-") \(path ?? "-")  \(status.map(String.init) ?? "-")  \(Self.format(duration))  "
            + "in \(Self.format(bytes: bytesIn))  out \(Self.format(bytes: bytesOut))"
    }

    /// One JSON object on one line, for `--output json`.
    public var json: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let record = Record(event: "request", time: formatter.string(from: start), method: method, path: path, status: status,
                            durationMs: Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15,
                            bytesIn: bytesIn, bytesOut: bytesOut, intercept: intercept, requestId: requestID, client: client)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return (try? encoder.encode(record)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private struct Record: Encodable {
        var event: String
        var time: String
        var method: String?
        var path: String?
        var status: Int?
        var durationMs: Double
        var bytesIn: Int
        var bytesOut: Int
        var intercept: String?
        var requestId: String?
        var client: String?
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    static func format(_ duration: Duration) -> String {
        let milliseconds = Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
        if milliseconds < 10 { return String(format: "%.1f ms", milliseconds) }
        if milliseconds < 1_000 { return "\(Int(milliseconds.rounded())) ms" }
        return String(format: "%.2f s", milliseconds / 1_000)
    }

    static func format(bytes: Int) -> String {
        if bytes < 1_024 { return "\(bytes) B" }
        if bytes < 1_024 * 1_024 { return String(format: "%.1f KiB", Double(bytes) / 1_024) }
        return String(format: "%.1f MiB", Double(bytes) / (1_024 * 1_024))
    }
}
