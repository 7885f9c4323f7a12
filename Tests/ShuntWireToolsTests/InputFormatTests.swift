import Foundation
import NIOCore
import ShuntWire
import ShuntWireTools
import Testing

@Suite("shunt-wire decode: hex dumps, tshark transcripts, JSON")
struct InputFormatTests {
    let sample: [UInt8] = WireLimits.preface + bytes([Frame(streamID: 0, payload: .hello(Hello(settings: [Setting(.compression, 1)]))),
                                                      .data(1, ByteBuffer(string: "dead beef 0123"))])

    @Test("plain hex, with any spacing and 0x prefixes")
    func plainHex() throws {
        let hex = WireBytesText.hex(sample)
        #expect(try HexDump.parse(hex) == sample)
        let spaced = stride(from: 0, to: hex.count, by: 2).map { i in "0x" + hex.dropFirst(i).prefix(2) }.joined(separator: " ")
        #expect(try HexDump.parse(spaced) == sample)
        #expect(try HexDump.parse(hex.prefix(40) + "\n" + hex.dropFirst(40)) == sample)
    }

    @Test("xxd output, whose ASCII column may itself look like hex")
    func xxd() throws {
        // xxd -g 2 layout, 16 octets a line, the ASCII column after two spaces.
        var text = ""
        for start in stride(from: 0, to: sample.count, by: 16) {
            let line = Array(sample[start..<min(start + 16, sample.count)])
            let groups = stride(from: 0, to: line.count, by: 2).map { WireBytesText.hex(line[$0..<min($0 + 2, line.count)]) }.joined(separator: " ")
            let ascii = String(line.map { (0x20..<0x7F).contains($0) ? Character(Unicode.Scalar($0)) : "." })
            text += String(format: "%08x: ", start) + groups.padding(toLength: 39, withPad: " ", startingAt: 0) + "  " + ascii + "\n"
        }
        #expect(try HexDump.parse(text) == sample)
    }

    @Test("hexdump -C output")
    func hexdumpC() throws {
        var text = ""
        for start in stride(from: 0, to: sample.count, by: 16) {
            let line = Array(sample[start..<min(start + 16, sample.count)])
            let first = line.prefix(8).map { WireBytesText.hex([$0]) }.joined(separator: " ")
            let second = line.dropFirst(8).map { WireBytesText.hex([$0]) }.joined(separator: " ")
            let ascii = String(line.map { (0x20..<0x7F).contains($0) ? Character(Unicode.Scalar($0)) : "." })
            text += String(format: "%08x  ", start) + (first + "  " + second).padding(toLength: 48, withPad: " ", startingAt: 0) + "  |" + ascii + "|\n"
        }
        text += String(format: "%08x\n", sample.count)
        #expect(try HexDump.parse(text) == sample)
    }

    @Test("text that is not hex is reported by line")
    func badHex() {
        #expect(throws: InputFormatError(line: 2, "\"zz\" at column 4 is not hex octets (two digits each)")) {
            try HexDump.parse("8953\n00 zz")
        }
    }

    @Test("tshark follow raw: node 1 indented; directions decoded apart and interleaved as captured")
    func tsharkRaw() throws {
        let client = WireLimits.preface + bytes([Frame(streamID: 0, payload: .hello(Hello()))])
        let server = WireLimits.preface + bytes([Frame(streamID: 0, payload: .hello(Hello())), Frame(streamID: 0, payload: .ping(opaque: 5))])
        let pong = bytes([Frame(streamID: 0, payload: .ping(opaque: 5, ack: true))])
        let transcript = """

            ===================================================================
            Follow: tls,raw
            Filter: tls.stream eq 0
            Node 0: 127.0.0.1:40000
            Node 1: 127.0.0.1:7443
            \(WireBytesText.hex(client.prefix(10)))
            \t\(WireBytesText.hex(server))
            \(WireBytesText.hex(client.dropFirst(10)))\(WireBytesText.hex(pong))
            ===================================================================

            """
        let stream = try TsharkFollow.parse(transcript)
        #expect(stream.endpoints == [.clientToServer: "127.0.0.1:40000", .serverToClient: "127.0.0.1:7443"])
        let records = stream.decode(with: ResynchronizingDecoder())
        let lines = records.map { WireTextFormat.line($0) }
        #expect(lines == [
            "@0 > PREFACE", "@0 < PREFACE", "@8 < HELLO stream=0 flags=0 length=4 min_version=1 max_version=1",
            "@24 < PING stream=0 flags=0 length=8 opaque=0x0000000000000005",
            "@8 > HELLO stream=0 flags=0 length=4 min_version=1 max_version=1",
            "@24 > PING stream=0 flags=ACK length=8 opaque=0x0000000000000005",
        ])
    }

    @Test("tshark follow hex: offsets per direction, ASCII column ignored")
    func tsharkHex() throws {
        func dump(_ bytes: [UInt8], from offset: Int, indent: String) -> String {
            stride(from: 0, to: bytes.count, by: 16).map { start in
                let line = Array(bytes[start..<min(start + 16, bytes.count)])
                let hex = line.enumerated().map { (i, b) in WireBytesText.hex([b]) + (i == 7 ? "  " : " ") }.joined()
                let ascii = String(line.map { (0x21..<0x7F).contains($0) ? Character(Unicode.Scalar($0)) : "." })
                return indent + String(format: "%08X  ", offset + start) + hex.padding(toLength: 50, withPad: " ", startingAt: 0) + ascii
            }.joined(separator: "\n")
        }
        let client = WireLimits.preface + bytes([Frame(streamID: 0, payload: .hello(Hello())), .data(1, ByteBuffer(string: "0123456789abcdef0123"))])
        let server = WireLimits.preface + bytes([Frame(streamID: 0, payload: .hello(Hello()))])
        let transcript = "===\nFollow: tls,hex\nFilter: tls.stream eq 0\nNode 0: a:1\nNode 1: b:2\n"
            + dump(Array(client.prefix(24)), from: 0, indent: "") + "\n"
            + dump(server, from: 0, indent: "\t") + "\n"
            + dump(Array(client.dropFirst(24)), from: 24, indent: "") + "\n===\n"
        let stream = try TsharkFollow.parse(transcript)
        let records = stream.decode(with: ResynchronizingDecoder())
        #expect(records.filter { $0.direction == .clientToServer }.flatMap { Array($0.bytes.readableBytesView) } == client)
        #expect(records.filter { $0.direction == .serverToClient }.flatMap { Array($0.bytes.readableBytesView) } == server)
        #expect(records.allSatisfy { $0.error == nil })
    }

    @Test("JSON Lines output is valid JSON with the spec's names")
    func json() throws {
        var input = WireLimits.preface + bytes(everyKindOfFrame)
        input += hexBytes("000000040300000000000001" + "00000000")
        for record in ResynchronizingDecoder().decode(ByteBuffer(bytes: input)) {
            let line = WireJSONFormat.line(record)
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["offset"] as? Int == record.offset, "\(line)")
            if let error = record.error {
                #expect(object?["error"] as? String == error.malformation.rawValue)
                #expect(object?["code"] as? String == "PROTOCOL_ERROR")
            } else if let frame = record.frame {
                #expect(object?["type"] as? String == frame.type.name)
                #expect(object?["stream"] as? Int == Int(frame.streamID.rawValue))
            }
        }
    }
}

@Suite("shunt-wire decode: hexdump repeats")
struct HexDumpRepeatTests {
    @Test("hexdump -C's * stands for repeated lines up to the next offset")
    func repeatedLines() throws {
        let text = """
            00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|
            *
            00000030  01 02                                             |..|
            00000032
            """
        #expect(try HexDump.parse(text) == [UInt8](repeating: 0, count: 48) + [1, 2])
    }
}

@Suite("shunt-wire decode: which node of a transcript is the agent")
struct TranscriptOrientationTests {
    let agentFirst = """
        Follow: tls,raw
        Node 0: 127.0.0.1:7443
        Node 1: 127.0.0.1:50000
        \(WireBytesText.hex(bytes([Frame(streamID: 2, payload: .streamOpen(kind: .http, metadata: StreamMetadata()))])))
        \t\(WireBytesText.hex(bytes([.data(1, ByteBuffer(string: "x"))])))
        """

    @Test("the side that opens even streams is the agent, whatever node tshark made it")
    func byStreamParity() throws {
        let stream = try TsharkFollow.parse(agentFirst).oriented()
        #expect(stream.chunks.map(\.direction) == [.serverToClient, .clientToServer])
        #expect(stream.endpoints[.serverToClient] == "127.0.0.1:7443")
    }

    @Test("--agent names the agent's endpoint")
    func byEndpoint() throws {
        #expect(try TsharkFollow.parse(agentFirst).oriented(agent: "7443").chunks.first?.direction == .serverToClient)
        #expect(try TsharkFollow.parse(agentFirst).oriented(agent: "127.0.0.1:50000").chunks.first?.direction == .clientToServer)
    }
}
