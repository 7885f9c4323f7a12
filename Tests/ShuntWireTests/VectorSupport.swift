import Foundation
import NIOCore
import ShuntWire

/// Loads `spec/vectors/*.json` and converts frames to and from their JSON form (spec/vectors/README.md).
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
}

enum Hex {
    static func decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(nibble(high) << 4 | nibble(low))
        }
        return bytes
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return text
    }

    static func encode(_ buffer: ByteBuffer) -> String { encode(buffer.readableBytesView) }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: fatalError("not a hex digit: \(c)")
        }
    }
}

/// The JSON form of a frame in spec/vectors/README.md, as plain values that compare with `==`.
enum FrameJSON: Equatable {
    case object([String: FrameJSON])
    case array([FrameJSON])
    case string(String)
    case number(UInt64)

    init(json value: Any) {
        switch value {
        case let dictionary as [String: Any]: self = .object(dictionary.mapValues(FrameJSON.init(json:)))
        case let array as [Any]: self = .array(array.map(FrameJSON.init(json:)))
        case let string as String: self = .string(string)
        case let number as NSNumber: self = .number(number.uint64Value)
        default: fatalError("unexpected JSON value \(value)")
        }
    }

    init(_ frame: Frame) {
        var fields: [String: FrameJSON] = [
            "stream": .number(UInt64(frame.streamID.rawValue)),
            "flags": .number(UInt64(frame.flags)),
        ]
        switch frame.payload {
        case .data(let bytes, _, _):
            fields["type"] = .string("DATA")
            fields["payload"] = .string(Hex.encode(bytes))
        case .streamOpen(let kind, let metadata, _):
            fields["type"] = .string("STREAM_OPEN")
            fields["kind"] = .number(UInt64(kind.rawValue))
            fields["metadata"] = .array(metadata.map { .array([.string($0.keyString), .string(Hex.encode($0.value))]) })
        case .reset(let code, let reason):
            fields["type"] = .string("RESET")
            fields["code"] = .number(UInt64(code.rawValue))
            fields["reason"] = .string(Hex.encode(reason))
        case .windowUpdate(let increment):
            fields["type"] = .string("WINDOW_UPDATE")
            fields["increment"] = .number(UInt64(increment))
        case .ping(let opaque, _):
            fields["type"] = .string("PING")
            var be = opaque.bigEndian
            fields["opaque"] = .string(Hex.encode(withUnsafeBytes(of: &be) { Array($0) }))
        case .goAway(let last, let code, let debug):
            fields["type"] = .string("GOAWAY")
            fields["last_stream_id"] = .number(UInt64(last.rawValue))
            fields["code"] = .number(UInt64(code.rawValue))
            fields["debug"] = .string(Hex.encode(debug))
        case .hello(let hello):
            fields["type"] = .string("HELLO")
            fields["min_version"] = .number(UInt64(hello.minVersion))
            fields["max_version"] = .number(UInt64(hello.maxVersion))
            fields["settings"] = .array(hello.settings.map { .array([.number(UInt64($0.id.rawValue)), .number(UInt64($0.value))]) })
        case .maxStreams(let maximum):
            fields["type"] = .string("MAX_STREAMS")
            fields["maximum"] = .number(UInt64(maximum))
        case .extension(let type, _, let payload):
            fields["type"] = .string("EXTENSION")
            fields["type_code"] = .number(UInt64(type.rawValue))
            fields["payload"] = .string(Hex.encode(payload))
        }
        self = .object(fields)
    }

    subscript(key: String) -> FrameJSON? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    var string: String { if case .string(let s) = self { return s }; fatalError("not a string: \(self)") }
    var number: UInt64 { if case .number(let n) = self { return n }; fatalError("not a number: \(self)") }
    var array: [FrameJSON] { if case .array(let a) = self { return a }; fatalError("not an array: \(self)") }

    /// The frame this JSON describes (the inverse of `init(_ frame:)`).
    var frame: Frame {
        let stream = StreamID(UInt32(self["stream"]!.number))
        let flags = UInt8(self["flags"]!.number)
        func bytes(_ key: String) -> ByteBuffer { ByteBuffer(bytes: Hex.decode(self[key]!.string)) }
        let payload: Frame.Payload
        switch self["type"]!.string {
        case "DATA":
            payload = .data(bytes("payload"), fin: flags & FrameFlags.fin != 0, compressed: flags & FrameFlags.compressed != 0)
        case "STREAM_OPEN":
            var block = ByteBuffer()
            for entry in self["metadata"]!.array {
                let key = entry.array[0].string, value = Hex.decode(entry.array[1].string)
                block.writeInteger(UInt8(key.utf8.count)); block.writeString(key)
                block.writeInteger(UInt16(value.count)); block.writeBytes(value)
            }
            payload = .streamOpen(kind: StreamKind(rawValue: UInt8(self["kind"]!.number)), metadata: StreamMetadata(unchecked: block), fin: flags & FrameFlags.fin != 0)
        case "RESET":
            payload = .reset(ErrorCode(rawValue: UInt32(self["code"]!.number)), reason: bytes("reason"))
        case "WINDOW_UPDATE":
            payload = .windowUpdate(increment: UInt32(self["increment"]!.number))
        case "PING":
            payload = .ping(opaque: Hex.decode(self["opaque"]!.string).reduce(0) { $0 << 8 | UInt64($1) }, ack: flags & FrameFlags.ack != 0)
        case "GOAWAY":
            payload = .goAway(lastStreamID: StreamID(UInt32(self["last_stream_id"]!.number)), code: ErrorCode(rawValue: UInt32(self["code"]!.number)), debug: bytes("debug"))
        case "HELLO":
            payload = .hello(Hello(
                minVersion: UInt16(self["min_version"]!.number), maxVersion: UInt16(self["max_version"]!.number),
                settings: self["settings"]!.array.map { Setting(SettingID(rawValue: UInt16($0.array[0].number)), UInt32($0.array[1].number)) }))
        case "MAX_STREAMS":
            payload = .maxStreams(UInt32(self["maximum"]!.number))
        case "EXTENSION":
            payload = .extension(type: FrameType(rawValue: UInt8(self["type_code"]!.number)), flags: flags, payload: bytes("payload"))
        case let other:
            fatalError("unknown frame type in vector: \(other)")
        }
        return Frame(streamID: stream, payload: payload)
    }
}

/// Decodes everything in `bytes`, fed in chunks of `chunk` octets (0: all at once), then calls `finish()`.
func decodeAll(_ bytes: [UInt8], limits: FrameDecoder.Limits = .default, preface: Bool = false, chunk: Int = 0) -> (frames: [Frame], error: FrameDecodingError?) {
    var decoder = FrameDecoder(limits: limits, expectsPreface: preface)
    var frames: [Frame] = []
    let step = chunk == 0 ? max(bytes.count, 1) : chunk
    var index = 0
    do {
        repeat {
            let end = min(index + step, bytes.count)
            decoder.append(ByteBuffer(bytes: bytes[index..<end]))
            index = end
            while let frame = try decoder.next() { frames.append(frame) }
        } while index < bytes.count
        try decoder.finish()
        return (frames, nil)
    } catch {
        return (frames, error)
    }
}
