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
    /// by hand into one buffer of octets: this runs once per intercepted request, and a date formatter
    /// and a JSON encoder per line (or a string grown piece by piece) cost more than the request itself.
    public var json: String {
        var out: [UInt8] = []
        out.reserveCapacity(224 + (path?.utf8.count ?? 0) + (client?.utf8.count ?? 0) + (intercept?.utf8.count ?? 0)
                            + (requestID?.utf8.count ?? 0) + (method?.utf8.count ?? 0))
        out.append(contentsOf: #"{"bytes_in":"#.utf8)
        Self.appendInteger(bytesIn, to: &out)
        out.append(contentsOf: #","bytes_out":"#.utf8)
        Self.appendInteger(bytesOut, to: &out)
        if let client { Self.appendField(#","client":"#, client, to: &out) }
        out.append(contentsOf: #","duration_ms":"#.utf8)
        Self.appendNumber(duration.inSeconds * 1_000, to: &out)
        out.append(contentsOf: #","event":"request""#.utf8)
        if let grpcStatus {
            out.append(contentsOf: #","grpc_status":"#.utf8)
            Self.appendInteger(grpcStatus, to: &out)
        }
        if let intercept { Self.appendField(#","intercept":"#, intercept, to: &out) }
        if let method { Self.appendField(#","method":"#, method, to: &out) }
        if let path { Self.appendField(#","path":"#, path, to: &out) }
        if let requestID { Self.appendField(#","request_id":"#, requestID, to: &out) }
        if let reset { Self.appendField(#","reset":"#, reset, to: &out) }
        if let status {
            out.append(contentsOf: #","status":"#.utf8)
            Self.appendInteger(status, to: &out)
        }
        out.append(contentsOf: #","time":""#.utf8)
        Self.appendInternetTime(start, to: &out)
        out.append(contentsOf: #""}"#.utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// `1970-01-01T01:02:03.000Z` (RFC 3339, UTC, milliseconds).
    static func internetTime(_ date: Date) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        appendInternetTime(date, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendInternetTime(_ date: Date, to out: inout [UInt8]) {
        let (quotient, remainder) = Int64((date.timeIntervalSince1970 * 1_000).rounded()).quotientAndRemainder(dividingBy: 1_000)
        let seconds = Int(remainder < 0 ? quotient - 1 : quotient)
        let fraction = Int(remainder < 0 ? remainder + 1_000 : remainder)
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let (year, month, day) = civil(fromDays: days)
        if year < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(abs(year), count: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(month, count: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(day, count: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendClock(secondsOfDay: seconds - days * 86_400, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(fraction, count: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// `value` in decimal, at least `count` digits (zeros in front); `value` ≥ 0.
    static func appendDigits(_ value: Int, count: Int, to out: inout [UInt8]) {
        var digits = 1
        var power = 10
        while power <= value && digits < 19 {
            digits += 1
            power &*= 10
        }
        for _ in digits..<max(digits, count) { out.append(UInt8(ascii: "0")) }
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        guard value >= 0 else {
            out.append(contentsOf: String(value).utf8)
            return
        }
        appendDigits(value, count: 1, to: &out)
    }

    private static func appendField(_ key: String, _ value: String, to out: inout [UInt8]) {
        out.append(contentsOf: key.utf8)
        JSONText.appendQuoted(value, to: &out)
    }

    private static func appendClock(secondsOfDay: Int, to out: inout [UInt8]) {
        appendDigits(secondsOfDay / 3_600, count: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondsOfDay / 60 % 60, count: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondsOfDay % 60, count: 2, to: &out)
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
        var out: [UInt8] = []
        out.reserveCapacity(8)
        appendClock(secondsOfDay: secondsOfDay, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Milliseconds to the microsecond, without trailing zeros: `12`, `1.5`, `0.042`.
    private static func appendNumber(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite, value >= 0, value < 1e15 else { return out.append(UInt8(ascii: "0")) }
        let micros = Int((value * 1_000).rounded())
        appendDigits(micros / 1_000, count: 1, to: &out)
        var fraction = micros % 1_000
        guard fraction > 0 else { return }
        var places = 3
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        out.append(UInt8(ascii: "."))
        appendDigits(fraction, count: places, to: &out)
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.inSeconds * 1_000
        if milliseconds < 10 { return decimal(milliseconds, places: 1) + " ms" }
        if milliseconds < 1_000 { return "\(Int(milliseconds.rounded())) ms" }
        return decimal(milliseconds / 1_000, places: 2) + " s"
    }

    static func format(bytes: Int) -> String {
        if bytes < 1_024 { return "\(bytes) B" }
        if bytes < 1_024 * 1_024 { return decimal(Double(bytes) / 1_024, places: 1) + " KiB" }
        return decimal(Double(bytes) / (1_024 * 1_024), places: 1) + " MiB"
    }

    /// `value` with `places` decimals, as `%.<places>f` writes it, without a formatter: the text log
    /// renders two of these per request. Values within rounding error of a tie, and values out of
    /// range, go to the formatter, which rounds the exact binary value.
    static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let product = value * Double(scale)
        guard value.isFinite, value >= 0, product < 1e12,
              abs(product - product.rounded(.down) - 0.5) > max(1e-6, product.ulp * 8) else {
            return String(format: "%.\(places)f", value)
        }
        let scaled = Int(product.rounded())
        var out: [UInt8] = []
        out.reserveCapacity(24)
        appendInteger(scaled / scale, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(scaled % scale, count: places, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
