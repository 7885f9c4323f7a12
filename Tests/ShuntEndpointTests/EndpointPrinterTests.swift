import Foundation
import NIOCore
@testable import ShuntEndpoint
import ShuntMatch
import ShuntWire
import Testing

/// What the developer reads: the banner with the header to send, request lines, JSON lines, .env.
@Suite struct EndpointPrinterTests {
    static let printer = EndpointPrinter(format: .text, service: "orders", local: "127.0.0.1:3000")

    @Test func aPersonalInterceptShowsTheHeaderInCurlAndBrowserForm() throws {
        let rule = try RuleFlags(httpHeader: ["auto"], pathPrefix: ["/api"]).spec()
        let header = try #require(rule.generatedHeader)
        let intercept = InterceptCalls.Intercept(name: "orders-alice", owner: "alice", port: 8080, rule: rule, since: "2025-01-01T00:00:00Z")
        let banner = Self.printer.render(.intercepted(intercept)).text
        #expect(banner.contains("curl -H 'x-shunt-intercept: \(header.value)' http://orders:8080/api"))
        #expect(banner.contains("Header name: x-shunt-intercept / value: \(header.value)"))
        #expect(banner.contains("127.0.0.1:3000"))
    }

    @Test func aGlobalInterceptSaysEveryConnection() {
        let intercept = InterceptCalls.Intercept(name: "orders-alice", owner: "alice", port: 8080, rule: .global, since: "2025-01-01T00:00:00Z")
        let banner = Self.printer.render(.intercepted(intercept)).text
        #expect(banner.hasPrefix("Intercepting every connection to orders port 8080"))
        #expect(!banner.contains("curl"))
    }

    @Test func aRequestLineHasMethodPathStatusDurationAndBytes() {
        let line = RequestLogLine(start: Date(timeIntervalSince1970: 3_723), method: "GET", path: "/api/orders", status: 200,
                                  duration: .milliseconds(12), bytesIn: 312, bytesOut: 1_228, requestID: "r1")
        #expect(line.text(timeZone: TimeZone(identifier: "UTC")!) == "01:02:03  GET /api/orders  200  12 ms  in 312 B  out 1.2 KiB")
        #expect(line.json == #"{"bytes_in":312,"bytes_out":1228,"duration_ms":12,"event":"request","method":"GET","path":"/api/orders","request_id":"r1","status":200,"time":"1970-01-01T01:02:03.000Z"}"#)
    }

    /// The text log's figures are written without a formatter, and read exactly as `%.1f` and `%.2f`
    /// write them: sizes in KiB and MiB, durations in milliseconds and seconds, ties included.
    @Test func decimalsAreWhatPrintfWrites() {
        for bytes in stride(from: 1_024, to: 3 * 1_024 * 1_024, by: 37) {
            let kib = Double(bytes) / 1_024
            #expect(RequestLogLine.decimal(kib, places: 1) == String(format: "%.1f", kib))
        }
        for nanoseconds in stride(from: Int64(0), to: 10_000_000, by: 997) {
            let milliseconds = Duration.nanoseconds(nanoseconds).inSeconds * 1_000
            #expect(RequestLogLine.decimal(milliseconds, places: 1) == String(format: "%.1f", milliseconds))
            #expect(RequestLogLine.decimal(milliseconds * 1_000, places: 2) == String(format: "%.2f", milliseconds * 1_000))
        }
        for tie in [0.05, 0.15, 0.25, 0.35, 2.5, 1.005, 1.015, 9.95, 1e13] {
            #expect(RequestLogLine.decimal(tie, places: 1) == String(format: "%.1f", tie))
            #expect(RequestLogLine.decimal(tie, places: 2) == String(format: "%.2f", tie))
        }
        #expect(RequestLogLine.format(.microseconds(50)) == "0.1 ms")
        #expect(RequestLogLine.format(bytes: 1_536) == "1.5 KiB")
        #expect(RequestLogLine.format(bytes: 5 * 1_024 * 1_024) == "5.0 MiB")
    }

    /// `duration_ms` is given to the microsecond, without trailing zeros.
    @Test func jsonDurationsAreMicrosecondDecimals() throws {
        let cases: [(Duration, String)] = [
            (.milliseconds(12), "12"), (.microseconds(1_500), "1.5"), (.microseconds(42), "0.042"),
            (.nanoseconds(1_234_567), "1.235"), (.nanoseconds(400), "0"), (.seconds(90), "90000"), (.microseconds(10_010), "10.01"),
        ]
        for (duration, text) in cases {
            let line = RequestLogLine(start: Date(timeIntervalSince1970: 0), method: nil, path: nil, status: nil,
                                      duration: duration, bytesIn: 0, bytesOut: 0)
            #expect(line.json.contains(#""duration_ms":\#(text),"#), "\(duration)")
            let object = try #require(JSONSerialization.jsonObject(with: Data(line.json.utf8)) as? [String: Any])
            #expect(object["duration_ms"] as? Double == Double(text))
        }
    }

    /// The hand-written JSON line agrees with Foundation's formatter and parser: dates across
    /// four centuries (leap years, before 1970, fractions), and strings that need escaping.
    @Test func requestJSONAgreesWithFoundation() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        let fixed: [Double] = [0, -0.001, -1, 951_782_400, 4_107_542_399.999, -2_208_988_800, 1_709_164_800.5]
        let random = (0..<2_000).map { _ in Double(Int64.random(in: -6_000_000_000_000...10_000_000_000_000, using: &generator)) / 1_000 }
        for seconds in fixed + random {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(RequestLogLine.internetTime(date) == formatter.string(from: date), "at \(seconds)")
        }
        let nasty = "a\"b\\c\n\r\t\u{01}\u{1f} é 🙂 /"
        let line = RequestLogLine(start: Date(timeIntervalSince1970: 1.25), method: nasty, path: "/p?q=\"x\"", status: nil,
                                  duration: .microseconds(1_500), bytesIn: 0, bytesOut: 7, intercept: "orders-alice", requestID: nil, client: "[::1]:5")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.json.utf8)) as? [String: Any])
        #expect(object["method"] as? String == nasty)
        #expect(object["path"] as? String == "/p?q=\"x\"")
        #expect(object["duration_ms"] as? Double == 1.5)
        #expect(object["status"] == nil)
        #expect(object["client"] as? String == "[::1]:5")
        #expect(object["time"] as? String == "1970-01-01T00:00:01.250Z")
    }

    /// The JSON line is written into memory sized beforehand: strings that are all escapes, and
    /// every number at its extreme, stay within the bound, and each string reads back as it was,
    /// escaped exactly as `JSONText.quoted` escapes it.
    @Test func requestJSONStaysWithinItsBoundAtTheExtremes() throws {
        let everyControl = String(decoding: (0..<0x20).map { UInt8($0) } + [0x7F, 0x22, 0x5C], as: UTF8.self)
        // A fixed sequence (a linear congruential generator), so that a failing case comes back.
        var state: UInt64 = 9
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let alphabet = Array(everyControl.unicodeScalars) + Array("aZ/?=.-é🙂 ".unicodeScalars)
        var strings = [everyControl, String(repeating: "\u{1f}", count: 300), "", "plain"]
        for _ in 0..<300 {
            let length = next() % 40
            strings.append(String(String.UnicodeScalarView((0..<length).map { _ in alphabet[next() % alphabet.count] })))
        }
        let numbers = [0, 1, 9, 10, 99, 1_000_000, Int.max, Int.min, -1]
        for (index, text) in strings.enumerated() {
            var line = RequestLogLine(start: Date(timeIntervalSince1970: index.isMultiple(of: 2) ? 9_000_000_000_000 : -9_000_000_000_000),
                                      method: text, path: text, status: numbers[index % numbers.count],
                                      duration: index.isMultiple(of: 3) ? .seconds(Int64.max / 2) : .nanoseconds(index * 1_234_567),
                                      bytesIn: numbers[(index + 1) % numbers.count], bytesOut: numbers[(index + 2) % numbers.count],
                                      intercept: text, requestID: text, client: text)
            line.grpcStatus = numbers[(index + 3) % numbers.count]
            line.reset = text
            line.failure = text
            let json = line.json
            #expect(json.utf8.count <= RequestLogLine.jsonFixedBound + LineCursor.maxEscapedSize * 7 * text.utf8.count)
            #expect(json.contains(#""path":\#(JSONText.quoted(text)),"#))
            let object = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
            for key in ["method", "path", "intercept", "request_id", "client", "reset", "failure"] {
                #expect(object[key] as? String == text, "\(key) in \(json)")
            }
            #expect((object["status"] as? NSNumber)?.int64Value == Int64(numbers[index % numbers.count]))
            #expect((object["bytes_in"] as? NSNumber)?.int64Value == Int64(numbers[(index + 1) % numbers.count]))
            // The text line, written the same way, stays within its own bound and says the same.
            let text = line.text(timeZone: TimeZone(identifier: "UTC")!)
            #expect(text.utf8.count <= RequestLogLine.textFixedBound + 4 * line.path!.utf8.count)
            #expect(text.contains("  \(line.method!) \(line.path!)  "))
            #expect(text.hasSuffix("  in \(RequestLogLine.format(bytes: line.bytesIn))  out \(RequestLogLine.format(bytes: line.bytesOut))"))
        }
        // Figures at their extremes: every duration and byte count fits its bound, and is what the
        // formatter writes when it is not a plain decimal.
        for duration in [Duration.seconds(Int64.max), .seconds(Int64.min), .zero, .nanoseconds(-1), .milliseconds(9_999)] {
            #expect(RequestLogLine.format(duration).utf8.count <= LineCursor.maxFigureSize)
        }
        for bytes in [Int.max, Int.min, -1, 0, 1_023, 1_024, 1_048_575, 1_048_576] {
            #expect(RequestLogLine.format(bytes: bytes).utf8.count <= LineCursor.maxFigureSize)
        }
        #expect(RequestLogLine.format(bytes: Int.min) == "\(Int.min) B")
        #expect(RequestLogLine.format(.seconds(Int64.max)) == String(format: "%.2f", Double(Int64.max)) + " s")
    }

    @Test func tunnelLossIsTroubleAndSaysWhenItRetries() {
        let line = Self.printer.render(.tunnelLost(reason: "connection lost: the connection closed", retryIn: .milliseconds(500)))
        #expect(line.isTrouble)
        #expect(line.text == "tunnel lost: connection lost: the connection closed; reconnecting in 0.5 s")
    }

    @Test func envFileValuesAreQuotedOnlyWhenNeeded() {
        let text = EnvFile.render(["B": "two words", "A": "plain/value:1", "C": #"say "hi" $HOME"#, "D": "", "E": "line\nbreak"])
        #expect(text == #"""
            A=plain/value:1
            B="two words"
            C="say \"hi\" \$HOME"
            D=""
            E="line\nbreak"

            """#)
    }
}
