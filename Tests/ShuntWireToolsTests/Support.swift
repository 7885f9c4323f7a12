import Foundation
import NIOCore
import ShuntWire
import ShuntWireTools

/// Loads `spec/vectors/*.json`.
enum Vectors {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("spec/vectors")

    static func load(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func limits(_ entry: [String: Any]) -> FrameDecoder.Limits {
        let limits = entry["limits"] as? [String: Any] ?? [:]
        return FrameDecoder.Limits(
            maxFrameSize: (limits["max_frame_size"] as? NSNumber)?.uint32Value ?? WireLimits.defaultMaxFrameSize,
            maxMetadataSize: (limits["max_metadata_size"] as? NSNumber)?.uint32Value ?? WireLimits.defaultMaxMetadataSize
        )
    }

    static func frames() throws -> [(name: String, hex: String, limits: FrameDecoder.Limits)] {
        try (load("frames.json")["frames"] as! [[String: Any]]).map { ($0["name"] as! String, $0["hex"] as! String, limits($0)) }
    }

    static func malformed() throws -> [[String: Any]] {
        try load("malformed.json")["cases"] as! [[String: Any]]
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return bytes
}

func bytes(_ frames: [Frame]) -> [UInt8] {
    var buffer = ByteBuffer()
    for frame in frames { FrameEncoder.encodeWhole(frame, into: &buffer) }
    return Array(buffer.readableBytesView)
}

/// Decodes with the defaults, prints exactly, and parses the text back to octets.
func textRoundTrip(_ input: [UInt8], limits: FrameDecoder.Limits = .default, preface: ResynchronizingDecoder.Preface = .auto) throws -> (text: String, bytes: [UInt8]) {
    let records = ResynchronizingDecoder(limits: limits, preface: preface).decode(ByteBuffer(bytes: input))
    let text = records.map { WireTextFormat.line($0, options: .exact) }.joined(separator: "\n")
    return (text, try WireTextParser.parse(text).flatMap(\.bytes))
}

/// One frame of every type and flag combination, with awkward contents.
let everyKindOfFrame: [Frame] = [
    .data(1, ByteBuffer()),
    .data(3, ByteBuffer(string: "hello"), fin: true),
    .data(5, ByteBuffer(bytes: Array(0...255)), compressed: true),
    .data(7, ByteBuffer(string: "quote \" backslash \\ tab \t cr \r lf \n é ✓"), fin: true, compressed: true),
    .data(9, ByteBuffer(bytes: [0xC3])),
    Frame(streamID: 2, payload: .streamOpen(kind: .http, metadata: StreamMetadata([("intercept", "orders"), ("client", "10.0.0.1:5000"), ("port", "8080"), ("request-id", "")]))),
    Frame(streamID: 1, payload: .streamOpen(kind: .control, metadata: StreamMetadata([("call", "intercept.list")]), fin: true)),
    Frame(streamID: 4, payload: .streamOpen(kind: .tcp, metadata: StreamMetadata())),
    Frame(streamID: 6, payload: .streamOpen(kind: StreamKind(rawValue: 0xEE), metadata: StreamMetadata(bytesEntries: [("bin.a_b-c", [0, 1, 0xFF])]))),
    .reset(2, .cancel),
    .reset(4, .refusedStream, reason: "draining"),
    Frame(streamID: 6, payload: .reset(ErrorCode(rawValue: 0x8000_0001), reason: ByteBuffer(bytes: [0xFF, 0xFE]))),
    Frame(streamID: 0, payload: .windowUpdate(increment: 1)),
    Frame(streamID: 3, payload: .windowUpdate(increment: 0x7FFF_FFFF)),
    Frame(streamID: 0, payload: .ping(opaque: 0)),
    Frame(streamID: 0, payload: .ping(opaque: 0xDEAD_BEEF_0102_0304, ack: true)),
    .goAway(lastStreamID: .max, .noError),
    .goAway(lastStreamID: 4, .enhanceYourCalm, debug: "too many RESET frames: 201 in 30 s (limit 200)"),
    Frame(streamID: 0, payload: .goAway(lastStreamID: 0, code: ErrorCode(rawValue: 0x12), debug: ByteBuffer(bytes: [0, 1, 2]))),
    Frame(streamID: 0, payload: .hello(Hello())),
    Frame(streamID: 0, payload: .hello(Hello(minVersion: 1, maxVersion: 3, settings: [
        Setting(.maxFrameSize, 16_777_215), Setting(.initialStreamWindow, 0), Setting(.initialSessionWindow, 0x7FFF_FFFF),
        Setting(.initialMaxStreams, 7), Setting(.maxMetadataSize, 256), Setting(.compression, 0xFFFF_FFFF),
        Setting(SettingID(rawValue: 0x8001), 42),
    ]))),
    Frame(streamID: 0, payload: .maxStreams(0)),
    Frame(streamID: 0, payload: .maxStreams(0x7FFF_FFFF)),
    Frame(streamID: 0, payload: .extension(type: FrameType(rawValue: 0x80), flags: 0, payload: ByteBuffer())),
    Frame(streamID: 0x7FFF_FFFF, payload: .extension(type: FrameType(rawValue: 0xFF), flags: 0xFF, payload: ByteBuffer(string: "ext"))),
]

extension StreamID: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt32) { self.init(value) }
}
