import NIOCore
@testable import ShuntHTTP1
import Testing

/// Field lines are read in one pass when well formed (`FieldLineParser.wellFormedLine`), and the head
/// scanner skips runs of ordinary octets eight at a time; the checked paths still name every error.
/// The fast paths must agree with the checked ones octet for octet.
@Suite struct FieldLineFastPathTests {
    @Test func theTokenBitSetsAreTheTokenList() {
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPSyntax.isTokenOctet(byte) == HTTPSyntax.isTokenByte(byte), "octet 0x\(FieldLineParser.hex(byte))")
        }
    }

    @Test func theWordTestFindsEveryControlUpToCR() {
        // Every octet value at every position of a word of ordinary octets.
        for position in 0..<8 {
            for byte in UInt8.min...UInt8.max {
                var octets = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                octets[position] = byte
                let word = octets.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                #expect(HTTPSyntax.hasOctetUpToCR(word) == (byte <= HTTPSyntax.cr), "0x\(FieldLineParser.hex(byte)) at \(position)")
            }
        }
        // Octets that borrow in the subtraction (0x00 beside 0x01, 0x0E, 0x80, 0xFF) do not hide or invent one.
        for pair: (UInt8, UInt8) in [(0x00, 0x01), (0x0E, 0x0D), (0x80, 0x0E), (0xFF, 0x0E), (0x0E, 0x00), (0x8E, 0x8D)] {
            let octets: [UInt8] = [pair.0, pair.1, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41]
            let word = octets.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            #expect(HTTPSyntax.hasOctetUpToCR(word) == octets.contains { $0 <= HTTPSyntax.cr })
        }
    }

    /// Field lines from pieces that are right and wrong in every place: names with and without
    /// non-token octets, blanks before and after the colon, values with obs-text, controls, DEL and
    /// inner and trailing blanks.
    static let names = ["Host", "X-Dev", "content-length", "a", "!#$%&'*+-.^_`|~", "", " Host", "Ho st", "Hóst", "X(1)", "\tX"]
    static let separators = [":", ": ", ":\t", ":  \t ", " :", ""]
    static let values = ["alice", "", "a b", "Mon, 27 Nov 2026 02:42:24 GMT", "x\u{7F}y", "caf\u{E9}", "a\u{01}b", "v\t",
                         "v  ", "\u{0B}", "text/html; charset=utf-8", "\u{1F}", "a\u{0E}"]

    @Test func theFastPathAgreesWithTheCheckedOne() throws {
        var checked = 0
        for name in Self.names {
            for separator in Self.separators {
                for value in Self.values {
                    expectAgreement(Array((name + separator + value).utf8))
                    checked += 1
                }
            }
        }
        // Seeded random lines over an alphabet rich in the octets that matter.
        let alphabet: [UInt8] = [0x00, 0x01, 0x09, 0x0B, 0x0E, 0x1F, 0x20, 0x21, 0x22, 0x28, 0x2C, 0x3A, 0x3B, 0x41, 0x5C,
                                 0x61, 0x7A, 0x7C, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
        var state: UInt64 = 0x5EED_F1E1_D11E
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 58)
            var line: [UInt8] = []
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                line.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            expectAgreement(line)
            checked += 1
        }
        #expect(checked > 5_700)
    }

    /// One line followed by CRLF and the empty line, as the scanner hands blocks over: the fast path
    /// gives the checked path's slot, or nil where the checked path refuses the line.
    private func expectAgreement(_ line: [UInt8]) {
        guard !line.contains(HTTPSyntax.cr), !line.contains(HTTPSyntax.lf), !line.isEmpty else { return }
        let block = line + [HTTPSyntax.cr, HTTPSyntax.lf, HTTPSyntax.cr, HTTPSyntax.lf]
        let text = String(decoding: line, as: UTF8.self).debugDescription
        block.withUnsafeBytes { bytes in
            let fast = FieldLineParser.wellFormedLine(bytes, from: 0)
            let checked: HTTPHeaderFields.Slot?
            do {
                checked = try FieldLineParser.checkedLine(bytes, 0..<line.count, offsetBase: 0)
            } catch {
                checked = nil
            }
            #expect(fast?.0 == checked, "\(text)")
            if let fast { #expect(fast.1 == line.count + 2, "\(text)") }
        }
        // And through the whole parser: the same fields, or the same error.
        let viaParser = Result { try FieldLineParser.parse(ByteBuffer(bytes: block), from: 0, offsetBase: 0) }
        switch viaParser {
        case .success(let slots): #expect(slots.count == 1, "\(text)")
        case .failure(let error): #expect(error is HTTP1ParseError, "\(text)")
        }
    }

    @Test func headsSplitAnywhereScanAlike() throws {
        // Long runs of ordinary octets cross the eight-octet words at every alignment; a control
        // octet inside a run is still refused at its own offset.
        let value = String(repeating: "abcdefgh", count: 5)
        for pad in 0..<9 {
            let head = "GET /" + String(repeating: "p", count: pad) + " HTTP/1.1\r\nHost: h\r\nX-Long: " + value + "\r\n\r\n"
            var parser = RequestHeadParser(limits: HTTP1Limits())
            var input = ByteBuffer(string: head)
            let parsed = try #require(try parser.parse(&input))
            #expect(parsed.headers.first(named: "x-long") == value)
            for position in [0, 3, 7, 8, 15, 39] {
                var bytes = Array(head.utf8)
                let at = head.utf8.count - 4 - value.utf8.count + position
                bytes[at] = 0x00
                do throws(HTTP1ParseError) {
                    var again = ByteBuffer(bytes: bytes)
                    var parser = RequestHeadParser(limits: HTTP1Limits())
                    _ = try parser.parse(&again)
                    Issue.record("pad \(pad) position \(position): a NUL octet was not refused")
                } catch {
                    #expect(error.kind == .nulByte && error.offset == at, "pad \(pad) position \(position): \(error)")
                }
            }
        }
    }
}
