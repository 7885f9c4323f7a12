import NIOCore
import ShuntWire
import ShuntWireTools
import Testing

@Suite("shunt-wire text form")
struct TextRoundTripTests {
    @Test("every frame type: encode → decode → text → encode gives the same octets", arguments: everyKindOfFrame)
    func everyFrameRoundTrips(_ frame: Frame) throws {
        let original = bytes([frame])
        let records = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: original))
        #expect(records.count == 1)
        #expect(records.first?.frame == frame)
        let (text, again) = try textRoundTrip(original, preface: .absent)
        #expect(again == original, "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test("a whole session with the preface round trips, line by line")
    func sessionRoundTrips() throws {
        let original = WireLimits.preface + bytes(everyKindOfFrame)
        let (text, again) = try textRoundTrip(original)
        #expect(again == original)
        #expect(text.split(separator: "\n").count == everyKindOfFrame.count + 1)
        #expect(text.hasPrefix("@0 PREFACE\n@8 DATA stream=1 flags=0 length=0\n@20 DATA stream=3 flags=FIN length=5 data=\"hello\""))
    }

    @Test("every frame of spec/vectors/frames.json round trips through the text form")
    func vectorsRoundTrip() throws {
        for vector in try Vectors.frames() {
            let original = hexBytes(vector.hex)
            let (text, again) = try textRoundTrip(original, limits: vector.limits, preface: .absent)
            #expect(again == original, "\(vector.name): \(text)")
            #expect(!text.contains("!"), "\(vector.name): \(text)")
        }
    }

    @Test("the text form of each type reads as documented")
    func documentedForms() {
        let line = { (frame: Frame) in WireTextFormat.body(frame, options: .exact) }
        #expect(line(.data(3, ByteBuffer(string: "hi"), fin: true, compressed: true)) == "DATA stream=3 flags=FIN|COMPRESSED length=2 data=\"hi\"")
        #expect(line(Frame(streamID: 2, payload: .streamOpen(kind: .http, metadata: StreamMetadata([("intercept", "a b")])))) == "STREAM_OPEN stream=2 flags=0 length=16 kind=HTTP meta:intercept=\"a b\"")
        #expect(line(.reset(2, .cancel, reason: "x")) == "RESET stream=2 flags=0 length=5 code=CANCEL reason=\"x\"")
        #expect(line(Frame(streamID: 0, payload: .windowUpdate(increment: 9))) == "WINDOW_UPDATE stream=0 flags=0 length=4 increment=9")
        #expect(line(Frame(streamID: 0, payload: .ping(opaque: 1, ack: true))) == "PING stream=0 flags=ACK length=8 opaque=0x0000000000000001")
        #expect(line(.goAway(lastStreamID: 4, .protocolError)) == "GOAWAY stream=0 flags=0 length=8 last_stream_id=4 code=PROTOCOL_ERROR")
        #expect(line(Frame(streamID: 0, payload: .hello(Hello(settings: [Setting(.compression, 1)])))) == "HELLO stream=0 flags=0 length=10 min_version=1 max_version=1 COMPRESSION=1")
        #expect(line(Frame(streamID: 0, payload: .maxStreams(5))) == "MAX_STREAMS stream=0 flags=0 length=4 maximum=5")
        #expect(line(Frame(streamID: 0, payload: .extension(type: FrameType(rawValue: 0x90), flags: 3, payload: ByteBuffer(bytes: [1])))) == "EXTENSION(0x90) stream=0 flags=0x03 length=1 payload=0x01")
        #expect(line(Frame(streamID: 1, payload: .reset(ErrorCode(rawValue: 0x8000_0000)))) == "RESET stream=1 flags=0 length=4 code=0x80000000")
    }

    @Test("DATA is shown up to --payload octets, and an elided payload encodes as zeros of the same length")
    func payloadLimit() throws {
        let frame = Frame.data(1, ByteBuffer(string: "abcdefgh"))
        let record = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: bytes([frame])))[0]
        #expect(WireTextFormat.line(record, options: .init(payloadLimit: 3)) == "@0 DATA stream=1 flags=0 length=8 data=\"abc\"…")
        #expect(WireTextFormat.line(record, options: .init(payloadLimit: 0)) == "@0 DATA stream=1 flags=0 length=8")
        let crafted = try WireTextParser.parse("DATA stream=1 length=8 data=\"abc\"…")[0].bytes
        #expect(crafted == bytes([.data(1, ByteBuffer(bytes: Array("abc".utf8) + [0, 0, 0, 0, 0]))]))
    }

    @Test("encode crafts malformed frames: a lying length, the R bit, reserved octets, undefined flags, a reserved type")
    func craftsMalformedFrames() throws {
        let cases: [(String, FrameDecodingError.Malformation)] = [
            ("DATA stream=1 length=16385", .frameTooLarge),
            ("DATA stream=0x80000001", .reservedBitsSet),
            ("PING reserved=1 opaque=0", .reservedBitsSet),
            ("TYPE(0x09) stream=0", .unknownFrameType),
            ("PING flags=0x02 opaque=0", .undefinedFlags),
            ("DATA stream=0", .zeroStreamID),
            ("PING stream=1 opaque=0", .nonzeroStreamID),
            ("WINDOW_UPDATE stream=1 increment=1 length=5", .badFrameLength),
            ("STREAM_OPEN stream=1 kind=HTTP meta:k=0x" + String(repeating: "00", count: 8_200), .metadataTooLarge),
            ("WINDOW_UPDATE stream=1 increment=0x80000000", .reservedBitsSet),
            ("WINDOW_UPDATE stream=1 increment=0", .zeroWindowIncrement),
            ("HELLO min_version=0", .badHello),
            ("HELLO MAX_FRAME_SIZE=1", .badSettingValue),
            ("STREAM_OPEN stream=1 kind=HTTP meta:BAD=\"x\"", .badMetadata),
            ("STREAM_OPEN stream=1 kind=HTTP metadata=0x0161", .badMetadata),
        ]
        for (text, expected) in cases {
            let crafted = try WireTextParser.parse("MAX_STREAMS maximum=1\n" + text)
            let records = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: crafted.flatMap(\.bytes)))
            #expect(records.first?.frame != nil, "\(text)")
            #expect(records.dropFirst().first?.error?.malformation == expected, "\(text)")
            #expect(records.dropFirst().first?.error?.offset == 16, "\(text)")
        }
    }

    @Test("a malformed region prints with its raw octets, which encode reproduces")
    func malformedRegionRoundTrips() throws {
        let original = bytes([.data(1, ByteBuffer(string: "ok"))]) + hexBytes("000000040300000000000001" + "00000000") + bytes([.data(1, ByteBuffer(string: "after"))])
        let (text, again) = try textRoundTrip(original, preface: .absent)
        #expect(again == original)
        #expect(text.contains("@14 !ZERO_WINDOW_INCREMENT code=PROTOCOL_ERROR detail=\"WINDOW_UPDATE on stream 1 has an increment of 0\" raw=0x00000004030000000000000100000000"))
        #expect(text.contains("@30 DATA stream=1 flags=0 length=5 data=\"after\""))
    }

    @Test("text that does not parse is reported by line and column")
    func parseErrors() {
        let cases: [(String, Int, Int, String)] = [
            ("PING opaque=1\nWINDOW_UPDATE stream=1 incremnt=5", 2, 34, "field increment is missing"),
            ("FOO stream=1", 1, 1, "unknown frame type \"FOO\""),
            ("DATA stream=1 data=\"abc", 1, 20, "a quoted string is not closed"),
            ("DATA stream=x", 1, 6, "stream=x is not a number"),
            ("DATA stream=1 flags=ACK", 1, 15, "\"ACK\" is not a flag of DATA"),
            ("RESET stream=1 code=NOPE", 1, 16, "code=NOPE is neither"),
            ("DATA stream=1 data=0xabc", 1, 20, "is not hex"),
            ("DATA stream=1 stream=2", 1, 15, "field stream appears twice"),
            ("PING opaque=1 bogus", 1, 15, "\"bogus\" is not a field"),
            ("@x PING opaque=1", 1, 1, "is not an offset"),
            ("RAW raw=0x00…", 1, 5, "cut short for display"),
            ("WINDOW_UPDATE stream=1 increment=1 extra=2", 1, 36, "unknown field \"extra\" for WINDOW_UPDATE"),
        ]
        for (text, line, column, message) in cases {
            do {
                _ = try WireTextParser.parse(text)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.line == line && error.column == column && error.message.contains(message), "\(text): \(error)")
            }
        }
    }

    @Test("comments, blank lines, offsets and directions are accepted; values in decimal or hex")
    func lenientInput() throws {
        let lines = try WireTextParser.parse("""
            # a session
            @0 > PREFACE

            @8 > HELLO  stream=0x0   COMPRESSION=0x1   # ours
            @0 < RAW raw=0x89
            """)
        #expect(lines.map(\.offset) == [0, 8, 0])
        #expect(lines.map(\.direction) == [.clientToServer, .clientToServer, .serverToClient])
        #expect(lines[1].bytes == bytes([Frame(streamID: 0, payload: .hello(Hello(settings: [Setting(.compression, 1)])))]))
    }
}
