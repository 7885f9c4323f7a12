import NIOCore
@testable import ShuntHTTP1
import Testing

/// Field names looked up in every head are recognized once, when the field line is parsed
/// (`KnownFieldName`); lookups of them then trust that recognition, so it must be exact: every case
/// spelling of a known name, and nothing else.
@Suite struct KnownFieldNameTests {
    @Test func everyKnownNameIsRecognizedInAnyCase() {
        var state: UInt64 = 0xC0FF_EE15_600D
        for known in KnownFieldName.allCases where known != .other {
            let text = known.text.description
            #expect(KnownFieldName.of(text) == known)
            #expect(KnownFieldName.of(text.uppercased()) == known)
            for _ in 0..<20 {
                let scrambled = String(text.map { character -> Character in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return state >> 63 == 1 ? Character(character.uppercased()) : character
                })
                #expect(KnownFieldName.of(scrambled) == known, "\(scrambled)")
            }
        }
    }

    @Test func aNameOneOctetOffIsNotRecognized() {
        // Every position, every octet value other than the letter's two cases: including CR for '-'
        // (which differs from it only in bit 0x20) and '@' / '`' beside the letters.
        for known in KnownFieldName.allCases where known != .other {
            let octets = Array(known.text.description.utf8)
            for position in octets.indices {
                for byte in UInt8.min...UInt8.max
                where HTTPSyntax.lowercased(byte) != octets[position] {
                    var changed = octets
                    changed[position] = byte
                    let recognized = changed.withUnsafeBytes { KnownFieldName.of($0, 0..<$0.count) }
                    #expect(recognized == .other, "\(known) with 0x\(FieldLineParser.hex(byte)) at \(position)")
                }
            }
            // One octet longer or shorter.
            #expect(KnownFieldName.of(known.text.description + "s") == .other)
            #expect(KnownFieldName.of(String(known.text.description.dropLast())) == .other)
        }
        #expect(KnownFieldName.of("x-dev") == .other && KnownFieldName.of("") == .other && KnownFieldName.of("t") == .other)
    }

    @Test func theHopByHopListIsTheKnownHopByHopNames() {
        // RFC 9110 §7.6.1 and the proxy fields of RFC 9110 §11.7: the list HopByHopHeaders publishes.
        #expect(Set(HopByHopHeaders.names) == ["connection", "keep-alive", "proxy-connection", "te", "trailer",
                                               "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate"])
        for name in HopByHopHeaders.names {
            #expect(HopByHopHeaders.isHopByHop(ByteBuffer(string: name.uppercased()).readableBytesView, connectionListed: []))
        }
        #expect(!HopByHopHeaders.isHopByHop(ByteBuffer(string: "content-length").readableBytesView, connectionListed: []))
        // Kept although hop-by-hop or named in Connection: the framing fields and Host, nothing else.
        #expect(Set(KnownFieldName.allCases.filter(\.isFramingOrRouting).map { $0.text.description })
                == ["transfer-encoding", "content-length", "host"])
    }

    @Test func parsedFieldsCarryTheirNamesAndLookupsOfAbsentNamesFindNothing() throws {
        let head = "GET / HTTP/1.1\r\nHOST: h\r\nContent-length: 0\r\nX-Dev: alice\r\ncOnNeCtIoN: close\r\nTE: trailers\r\n\r\n"
        var parser = RequestHeadParser()
        var input = ByteBuffer(string: head)
        let parsed = try #require(try parser.parse(&input))
        let headers = parsed.headers
        #expect(headers.indices.map { headers.known(at: $0) } == [.host, .contentLength, .other, .connection, .te])
        #expect(headers.has(.host) && headers.has(.connection) && !headers.has(.transferEncoding) && !headers.has(.upgrade))
        #expect(headers.contains(named: "Connection") && !headers.contains(named: "upgrade") && headers.contains(named: "x-dev"))
        #expect(headers.count(named: "te") == 1 && headers.count(named: "expect") == 0)
        #expect(headers.first(named: "content-LENGTH") == "0" && headers.first(named: "forwarded") == nil)
        #expect(!parsed.keepAlive)
    }
}
