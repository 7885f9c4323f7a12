import NIOCore
import ShuntHTTP1
import Testing

/// The lookups by name read the received octets in place (a length check first, no view made): they
/// must agree with comparing each field's name as a view, whatever the case and the length.
@Suite struct HTTPHeaderFieldsTests {
    static let names = ["host", "content-length", "transfer-encoding", "connection", "x-forwarded-for",
                        "forwarded", "upgrade", "expect", "x-dev", "x", "content-lengtx", "hosts", "hos", ""]

    /// `name` with each letter's case flipped at random.
    static func scrambled(_ name: String, _ random: inout SplitMix) -> String {
        String(name.map { Bool.random(using: &random) ? Character($0.uppercased()) : $0 })
    }

    /// A request head whose field names are drawn from `names` (scrambled, or with one letter changed),
    /// with odd but legal whitespace around values.
    static func randomHead(_ random: inout SplitMix) throws -> RequestHead {
        var text = "GET /p HTTP/1.1\r\nHost: svc\r\n"
        for _ in 0..<Int.random(in: 0...12, using: &random) {
            var name = scrambled(names.filter { !$0.isEmpty && $0 != "host" && $0 != "content-length"
                && $0 != "transfer-encoding" }.randomElement(using: &random)!, &random)
            if Bool.random(using: &random) {
                var octets = Array(name.utf8)
                octets[Int.random(in: 0..<octets.count, using: &random)] = UInt8(ascii: "z")
                name = String(decoding: octets, as: UTF8.self)
            }
            let space = [" ", "", "\t", "  \t"].randomElement(using: &random)!
            text += "\(name):\(space)v\(Int.random(in: 0..<100, using: &random))\(space)\r\n"
        }
        return try #require(try parseHead(text + "\r\n"))
    }

    @Test func lookupsInPlaceAgreeWithComparingViews() throws {
        var random = SplitMix(state: 0x5EED_F1E1_D5)
        for _ in 0..<2_000 {
            let headers = try Self.randomHead(&random).headers
            for name in Self.names {
                let asked = Self.scrambled(name, &random)
                let reference = headers.indices.filter { headers[$0].hasName(asked) }
                #expect(headers.indices.filter { headers.name(at: $0, is: asked) } == reference, "\(asked)")
                #expect(headers.count(named: asked) == reference.count)
                #expect(headers.contains(named: asked) == !reference.isEmpty)
                #expect(headers.first(named: asked) == reference.first.map { headers[$0].valueString })
                #expect(headers.values(named: asked).map { String(decoding: $0, as: UTF8.self) }
                    == reference.map { headers[$0].valueString })
                for index in headers.indices {
                    #expect(String(decoding: headers.value(at: index), as: UTF8.self) == headers[index].valueString)
                }
            }
        }
    }

    @Test func namesOfEveryOctetCompareOnlyLettersIgnoringCase() throws {
        // Every token octet in a one-letter name: only the ASCII letters equal their other case.
        let tchar = Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for octet in tchar {
            let name = String(decoding: [octet], as: UTF8.self)
            let headers = try #require(try parseHead("GET / HTTP/1.1\r\nHost: a\r\n\(name): v\r\n\r\n")).headers
            for other in tchar {
                let asked = String(decoding: [other], as: UTF8.self)
                let equal = octet == other || (name.lowercased() == asked.lowercased() && octet.isLetter && other.isLetter)
                #expect(headers.name(at: 1, is: asked) == equal, "\(name) vs \(asked)")
            }
        }
    }
}

private extension UInt8 {
    var isLetter: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self | 0x20) }
}
