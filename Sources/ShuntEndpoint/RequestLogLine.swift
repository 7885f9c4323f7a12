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
    /// Why the laptop did not serve the request (`local service unreachable`): the agent answered
    /// its caller instead (502, naming the laptop). Such a line does not count as a request served.
    public var failure: String?

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

    /// `14:03:07  GET /api/orders  200  12 ms  in 312 B  out 1.2 KiB`, in the local time zone. Written
    /// straight into the string's storage, as the JSON line is: the default output writes one per
    /// intercepted request.
    public func text(timeZone: TimeZone = .current) -> String {
        let seconds = start.timeIntervalSince1970.rounded(.down)
        let local = Int(seconds) + timeZone.secondsFromGMT(for: start)
        let strings = (method?.utf8.count ?? 1) + (path?.utf8.count ?? 1) + (reset?.utf8.count ?? 0) + (failure?.utf8.count ?? 0)
        return String(unsafeUninitializedCapacity: Self.textFixedBound + strings) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.clock(secondsOfDay: ((local % 86_400) + 86_400) % 86_400)
            out.literal("  ")
            out.text(method ?? "-")
            out.byte(UInt8(ascii: " "))
            out.text(path ?? "-")
            out.literal("  ")
            if let status { out.integer(status) } else { out.byte(UInt8(ascii: "-")) }
            if let grpcStatus {
                out.literal(" grpc-status ")
                out.integer(grpcStatus)
            }
            if let reset {
                out.literal(" reset ")
                out.text(reset)
            }
            if let failure {
                out.literal(" not served: ")
                out.text(failure)
            }
            out.literal("  ")
            out.duration(duration)
            out.literal("  in ")
            out.bytes(bytesIn)
            out.literal("  out ")
            out.bytes(bytesOut)
            return out.count
        }
    }

    /// The most octets of a text line besides its strings' own: the clock (8), separators and words
    /// (under 60), two integers of at most 20 octets, and the duration and the two byte counts, each
    /// at most `LineCursor.maxFigureSize` with its unit.
    static let textFixedBound = 8 + 60 + 2 * 20 + 3 * LineCursor.maxFigureSize

    /// One JSON object on one line, for `--output json`: keys sorted, absent fields left out. Written
    /// by hand straight into the string's own storage, whose size is bounded beforehand: this runs
    /// once per intercepted request, and a date formatter and a JSON encoder per line (or an array of
    /// octets grown piece by piece, then copied into a string) cost more than the request itself.
    public var json: String {
        // Summed one by one: an array of the six would be an allocation per line.
        var strings = client?.utf8.count ?? 0
        strings += intercept?.utf8.count ?? 0
        strings += method?.utf8.count ?? 0
        strings += path?.utf8.count ?? 0
        strings += requestID?.utf8.count ?? 0
        strings += reset?.utf8.count ?? 0
        strings += failure?.utf8.count ?? 0
        return String(unsafeUninitializedCapacity: Self.jsonFixedBound + LineCursor.maxEscapedSize * strings) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.literal(#"{"bytes_in":"#)
            out.integer(bytesIn)
            out.literal(#","bytes_out":"#)
            out.integer(bytesOut)
            if let client { out.field(#","client":"#, client) }
            out.literal(#","duration_ms":"#)
            out.milliseconds(duration)
            out.literal(#","event":"request""#)
            if let failure { out.field(#","failure":"#, failure) }
            if let grpcStatus {
                out.literal(#","grpc_status":"#)
                out.integer(grpcStatus)
            }
            if let intercept { out.field(#","intercept":"#, intercept) }
            if let method { out.field(#","method":"#, method) }
            if let path { out.field(#","path":"#, path) }
            if let requestID { out.field(#","request_id":"#, requestID) }
            if let reset { out.field(#","reset":"#, reset) }
            if let status {
                out.literal(#","status":"#)
                out.integer(status)
            }
            out.literal(#","time":""#)
            out.internetTime(start)
            out.literal(#""}"#)
            return out.count
        }
    }

    /// The most octets of a JSON line besides its strings' own: every key and quote (under 185), four
    /// integers of at most 20 octets, the duration (at most 20) and the time.
    static let jsonFixedBound = 185 + 4 * 20 + 20 + timeBound

    /// `1970-01-01T01:02:03.000Z` (RFC 3339, UTC, milliseconds).
    static func internetTime(_ date: Date) -> String {
        String(unsafeUninitializedCapacity: timeBound) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.internetTime(date)
            return out.count
        }
    }

    /// The most octets `internetTime` writes: a year of up to 10 digits and a sign (the range of
    /// `Date` in milliseconds), and the 20 octets after it.
    static let timeBound = 40

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

    static func format(_ duration: Duration) -> String {
        String(unsafeUninitializedCapacity: LineCursor.maxFigureSize) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.duration(duration)
            return out.count
        }
    }

    static func format(bytes: Int) -> String {
        String(unsafeUninitializedCapacity: LineCursor.maxFigureSize) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.bytes(bytes)
            return out.count
        }
    }

    /// `value` with `places` decimals (1 or 2), as `%.<places>f` writes it, without a formatter.
    static func decimal(_ value: Double, places: Int) -> String {
        String(unsafeUninitializedCapacity: LineCursor.maxFigureSize) { buffer in
            var out = LineCursor(buffer.baseAddress!)
            out.decimal(value, places: places)
            return out.count
        }
    }
}

/// Writes a log line into memory sized beforehand (see `RequestLogLine.json` and `text`): digits by
/// constant division, strings escaped as `JSONText` does (JSON) or as they are (text), without a
/// bounds check or a growth check per octet.
struct LineCursor {
    /// The most octets a figure of the text line takes with its unit: a decimal `%.1f` or `%.2f`
    /// of any duration or byte count, or an integer of at most 20 octets (the formatter's widest
    /// here is 23 octets, `-9223372036854775808.00`), and ` KiB`.
    static let maxFigureSize = 32

    /// The most octets one octet of a string takes once escaped (`\u001f`).
    static let maxEscapedSize = 6

    private let base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0

    init(_ base: UnsafeMutablePointer<UInt8>) {
        self.base = base
    }

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        base[count] = value
        count += 1
    }

    mutating func literal(_ text: StaticString) {
        (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    /// `value` in decimal, at least `minimumDigits` digits (zeros in front); a negative value with its sign.
    mutating func integer(_ value: Int, minimumDigits: Int = 1) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var rest = value.magnitude
        var digits = 1
        var power: UInt = 10
        while power <= rest && digits < 20 {
            digits += 1
            if power > UInt.max / 10 { break }
            power &*= 10
        }
        let width = max(digits, minimumDigits)
        var position = count + width
        count = position
        for _ in 0..<width {
            position -= 1
            base[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
    }

    /// `text` as a JSON string literal, escaped as `JSONText.quoted` does.
    mutating func quoted(_ text: String) {
        byte(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { octets in
            // Paths, methods, ids and addresses rarely hold an octet to escape: then they go as they are.
            if !octets.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == 0x7F }) {
                if octets.count > 0 { (base + count).update(from: octets.baseAddress!, count: octets.count) }
                count += octets.count
                return
            }
            for octet in octets {
                switch octet {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    byte(UInt8(ascii: "\\"))
                    byte(octet)
                case UInt8(ascii: "\n"):
                    byte(UInt8(ascii: "\\"))
                    byte(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"):
                    byte(UInt8(ascii: "\\"))
                    byte(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"):
                    byte(UInt8(ascii: "\\"))
                    byte(UInt8(ascii: "t"))
                case 0..<0x20, 0x7F:
                    literal("\\u00")
                    byte(Self.hexDigits[Int(octet >> 4)])
                    byte(Self.hexDigits[Int(octet & 0xF)])
                default:
                    byte(octet)
                }
            }
        }
        byte(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `text` as it is.
    mutating func text(_ text: String) {
        var text = text
        text.withUTF8 { octets in
            (base + count).update(from: octets.baseAddress!, count: octets.count)
            count += octets.count
        }
    }

    /// `12 ms`, `1.5 ms`, `2.25 s`.
    mutating func duration(_ duration: Duration) {
        let milliseconds = duration.inSeconds * 1_000
        if milliseconds < 10 {
            decimal(milliseconds, places: 1)
            literal(" ms")
        } else if milliseconds < 1_000 {
            integer(Int(milliseconds.rounded()))
            literal(" ms")
        } else {
            decimal(milliseconds / 1_000, places: 2)
            literal(" s")
        }
    }

    /// `312 B`, `1.2 KiB`, `5.0 MiB`.
    mutating func bytes(_ bytes: Int) {
        if bytes < 1_024 {
            integer(bytes)
            literal(" B")
        } else if bytes < 1_024 * 1_024 {
            decimal(Double(bytes) / 1_024, places: 1)
            literal(" KiB")
        } else {
            decimal(Double(bytes) / (1_024 * 1_024), places: 1)
            literal(" MiB")
        }
    }

    /// `value` with `places` decimals (1 or 2), as `%.<places>f` writes it. Values within rounding
    /// error of a tie, and values out of range, go to the formatter, which rounds the exact binary value.
    mutating func decimal(_ value: Double, places: Int) {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let product = value * Double(scale)
        guard value.isFinite, value >= 0, product < 1e12,
              abs(product - product.rounded(.down) - 0.5) > max(1e-6, product.ulp * 8) else {
            // At most 23 octets for the values of a log line (under 2^63 in magnitude); anything
            // wider (an infinity is `inf`) is cut, never written past the bound.
            let formatted = String(format: "%.\(places)f", value)
            text(String(formatted.utf8.prefix(LineCursor.maxFigureSize - 4))!)
            return
        }
        let scaled = Int(product.rounded())
        integer(scaled / scale)
        byte(UInt8(ascii: "."))
        integer(scaled % scale, minimumDigits: places)
    }

    mutating func field(_ key: StaticString, _ value: String) {
        literal(key)
        quoted(value)
    }

    /// Milliseconds to the microsecond, without trailing zeros: `12`, `1.5`, `0.042`.
    mutating func milliseconds(_ duration: Duration) {
        let value = duration.inSeconds * 1_000
        guard value.isFinite, value >= 0, value < 1e15 else { return byte(UInt8(ascii: "0")) }
        let micros = Int((value * 1_000).rounded())
        integer(micros / 1_000)
        var fraction = micros % 1_000
        guard fraction > 0 else { return }
        var places = 3
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        byte(UInt8(ascii: "."))
        integer(fraction, minimumDigits: places)
    }

    /// `1970-01-01T01:02:03.000Z` (RFC 3339, UTC, milliseconds).
    mutating func internetTime(_ date: Date) {
        let (quotient, remainder) = Int64((date.timeIntervalSince1970 * 1_000).rounded()).quotientAndRemainder(dividingBy: 1_000)
        let seconds = Int(remainder < 0 ? quotient - 1 : quotient)
        let fraction = Int(remainder < 0 ? remainder + 1_000 : remainder)
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let (year, month, day) = RequestLogLine.civil(fromDays: days)
        integer(year, minimumDigits: 4)
        byte(UInt8(ascii: "-"))
        integer(month, minimumDigits: 2)
        byte(UInt8(ascii: "-"))
        integer(day, minimumDigits: 2)
        byte(UInt8(ascii: "T"))
        clock(secondsOfDay: seconds - days * 86_400)
        byte(UInt8(ascii: "."))
        integer(fraction, minimumDigits: 3)
        byte(UInt8(ascii: "Z"))
    }

    /// `hh:mm:ss`.
    mutating func clock(secondsOfDay: Int) {
        integer(secondsOfDay / 3_600, minimumDigits: 2)
        byte(UInt8(ascii: ":"))
        integer(secondsOfDay / 60 % 60, minimumDigits: 2)
        byte(UInt8(ascii: ":"))
        integer(secondsOfDay % 60, minimumDigits: 2)
    }
}
