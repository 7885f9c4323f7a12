import NIOCore
import ShuntWire

/// Builds valid frames deterministically from a list of random words, so property tests can shrink
/// the words and get a smaller failing frame sequence.
struct WordStream {
    var words: [UInt64]
    var index = 0

    mutating func next() -> UInt64 {
        defer { index += 1 }
        return words.isEmpty ? 0 : words[index % words.count] &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index)
    }

    mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound + 1)) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func bytes(upTo bound: Int) -> [UInt8] { (0..<next(upTo: bound)).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

enum RandomFrames {
    static let keyOctets = Array("abcdefghijklmnopqrstuvwxyz0123456789-._".utf8)

    static func make(_ count: Int, from words: [UInt64]) -> [Frame] {
        var stream = WordStream(words: words)
        return (0..<count).map { _ in frame(&stream) }
    }

    static func frame(_ w: inout WordStream) -> Frame {
        let stream = StreamID(UInt32(w.next(upTo: 0x7FFF_FFFE)) + 1)
        switch w.next(upTo: 8) {
        case 0:
            return .data(stream, ByteBuffer(bytes: w.bytes(upTo: 300)), fin: w.bool(), compressed: w.bool())
        case 1:
            var entries: [(key: String, value: [UInt8])] = []
            for index in 0..<w.next(upTo: 5) {
                let key = "k\(index)" + String(decoding: (0..<w.next(upTo: 20)).map { _ in keyOctets[w.next(upTo: keyOctets.count - 1)] }, as: UTF8.self)
                entries.append((key, w.bytes(upTo: 40)))
            }
            return Frame(streamID: stream, payload: .streamOpen(kind: StreamKind(rawValue: UInt8(w.next(upTo: 254) + 1)), metadata: StreamMetadata(bytesEntries: entries), fin: w.bool()))
        case 2:
            return Frame(streamID: stream, payload: .reset(ErrorCode(rawValue: UInt32(truncatingIfNeeded: w.next())), reason: ByteBuffer(bytes: w.bytes(upTo: 256))))
        case 3:
            return Frame(streamID: w.bool() ? .session : stream, payload: .windowUpdate(increment: UInt32(w.next(upTo: 0x7FFF_FFFE)) + 1))
        case 4:
            return Frame(streamID: .session, payload: .ping(opaque: w.next(), ack: w.bool()))
        case 5:
            return Frame(streamID: .session, payload: .goAway(lastStreamID: StreamID(UInt32(w.next(upTo: 0x7FFF_FFFF))), code: ErrorCode(rawValue: UInt32(truncatingIfNeeded: w.next())), debug: ByteBuffer(bytes: w.bytes(upTo: 1024))))
        case 6:
            let minVersion = UInt16(w.next(upTo: 100) + 1)
            var settings: [Setting] = []
            for id in 1...UInt16(w.next(upTo: 63) + 1) where w.bool() {
                let settingID = SettingID(rawValue: id)
                let range = settingID.validValues ?? 0...UInt32.max
                let span = UInt64(range.upperBound - range.lowerBound) + 1
                settings.append(Setting(settingID, range.lowerBound + UInt32(w.next() % span)))
            }
            return Frame(streamID: .session, payload: .hello(Hello(minVersion: minVersion, maxVersion: minVersion + UInt16(w.next(upTo: 5)), settings: settings)))
        case 7:
            return Frame(streamID: .session, payload: .maxStreams(UInt32(w.next(upTo: 0x7FFF_FFFF))))
        default:
            return Frame(streamID: StreamID(UInt32(w.next(upTo: 0x7FFF_FFFF))), payload: .extension(type: FrameType(rawValue: UInt8(0x80 + w.next(upTo: 0x7F))), flags: UInt8(w.next(upTo: 255)), payload: ByteBuffer(bytes: w.bytes(upTo: 100))))
        }
    }

    static func encode(_ frames: [Frame]) -> [UInt8] {
        var buffer = ByteBuffer()
        for frame in frames { FrameEncoder.encodeWhole(frame, into: &buffer) }
        return Array(buffer.readableBytesView)
    }
}
