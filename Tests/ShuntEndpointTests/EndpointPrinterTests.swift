import Foundation
import NIOCore
import ShuntEndpoint
import ShuntMatch
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
