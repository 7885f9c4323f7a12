import Foundation
import ShuntWire

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
    /// HTTP/2 streams only: the `grpc-status` of the trailers, and the RST_STREAM error code name
    /// (`CANCEL`, …) when a reset ended the stream.
    public var grpcStatus: Int?
    public var reset: String?

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
        let seconds = start.timeIntervalSince1970.rounded(.down)
        let local = Int(seconds) + timeZone.secondsFromGMT(for: start)
        let time = Self.clock(secondsOfDay: ((local % 86_400) + 86_400) % 86_400)
        var outcome = status.map(String.init) ?? "-"
        if let grpcStatus { outcome += " grpc-status \(grpcStatus)" }
        if let reset { outcome += " reset \(reset)" }
        return "\(time)  \(method ?? "-") \(path ?? "-")  \(outcome)  \(Self.format(duration))  "
            + "in \(Self.format(bytes: bytesIn))  out \(Self.format(bytes: bytesOut))"
    }

    /// One JSON object on one line, for `--output json`: keys sorted, absent fields left out. Written
    /// by hand: this runs once per intercepted request, and a date formatter and a JSON encoder per
    /// line cost more than the request itself.
    public var json: String {
        let milliseconds = duration.inSeconds * 1_000
        var out = "{"
        out.reserveCapacity(256 + (path?.utf8.count ?? 0))
        out += "\"bytes_in\":\(bytesIn),\"bytes_out\":\(bytesOut)"
        if let client { out += ",\"client\":" + Self.quoted(client) }
        out += ",\"duration_ms\":" + Self.number(milliseconds)
        out += ",\"event\":\"request\""
        if let grpcStatus { out += ",\"grpc_status\":\(grpcStatus)" }
        if let intercept { out += ",\"intercept\":" + Self.quoted(intercept) }
        if let method { out += ",\"method\":" + Self.quoted(method) }
        if let path { out += ",\"path\":" + Self.quoted(path) }
        if let requestID { out += ",\"request_id\":" + Self.quoted(requestID) }
        if let reset { out += ",\"reset\":" + Self.quoted(reset) }
        if let status { out += ",\"status\":\(status)" }
        out += ",\"time\":\"" + Self.internetTime(start) + "\"}"
        return out
    }

    /// `1970-01-01T01:02:03.000Z` (RFC 3339, UTC, milliseconds).
    static func internetTime(_ date: Date) -> String {
        let (quotient, remainder) = Int64((date.timeIntervalSince1970 * 1_000).rounded()).quotientAndRemainder(dividingBy: 1_000)
        let seconds = Int(remainder < 0 ? quotient - 1 : quotient)
        let fraction = Int(remainder < 0 ? remainder + 1_000 : remainder)
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let (year, month, day) = civil(fromDays: days)
        let pad2 = twoDigits
        let yearText = String(year)
        let fractionText = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(String(repeating: "0", count: max(0, 4 - yearText.count)))\(yearText)-\(pad2(month))-\(pad2(day))T"
            + clock(secondsOfDay: seconds - days * 86_400) + ".\(fractionText)Z"
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func clock(secondsOfDay: Int) -> String {
        "\(twoDigits(secondsOfDay / 3_600)):\(twoDigits(secondsOfDay / 60 % 60)):\(twoDigits(secondsOfDay % 60))"
    }

    private static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func quoted(_ text: String) -> String { JSONText.quoted(text) }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.inSeconds * 1_000
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
