import Foundation
import NIOCore
import ShuntWire
import ShuntWireTools
import Testing

@Suite("shunt-wire decode: malformations and resynchronisation")
struct ResynchronizingDecoderTests {
    @Test("every case of spec/vectors/malformed.json is reported at its offset with its name, after the good frames before it")
    func malformedVectors() throws {
        for entry in try Vectors.malformed() {
            let name = entry["name"] as! String
            let input = hexBytes(entry["hex"] as! String)
            let preface: ResynchronizingDecoder.Preface = (entry["preface"] as? Bool) == true ? .expected : .absent
            let records = ResynchronizingDecoder(limits: Vectors.limits(entry), preface: preface).decode(ByteBuffer(bytes: input))
            guard let index = records.firstIndex(where: { $0.error != nil }) else {
                Issue.record("\(name): no malformation reported")
                continue
            }
            let error = records[index].error!
            #expect(error.malformation.rawValue == entry["error"] as! String, "\(name): \(error)")
            #expect(error.offset == (entry["offset"] as! NSNumber).intValue, "\(name): \(error)")
            #expect(error.code?.description == entry["code"] as? String, "\(name)")
            #expect(records[..<index].allSatisfy { $0.frame != nil || $0.content == WireRecord.Content.preface }, "\(name)")
            // Whatever happened, the records cover the input exactly, in order.
            #expect(records.flatMap { Array($0.bytes.readableBytesView) } == input, "\(name)")
            #expect(zip(records, records.dropFirst()).allSatisfy { $0.offset + $0.bytes.readableBytes == $1.offset }, "\(name)")
        }
    }

    @Test("after a malformed frame whose length is intact, decoding resumes right after it")
    func resumesAfterBadFrame() throws {
        let good = bytes([.data(1, ByteBuffer(string: "a"))])
        let bad = hexBytes("00000004" + "03" + "00" + "0000" + "00000001" + "00000000")  // increment 0
        let records = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: good + bad + good + bad))
        let expected: [FrameDecodingError.Malformation?] = [nil, .zeroWindowIncrement, nil, .zeroWindowIncrement]
        #expect(records.map { $0.error?.malformation } == expected)
        #expect(records.map(\.offset) == [0, 13, 29, 42])
        #expect(records[1].content == WireRecord.Content.malformed(records[1].error!, resumed: true))
    }

    @Test("a corrupted length is skipped by scanning for the next two well-formed frames")
    func scansPastCorruptedLength() throws {
        let frames: [Frame] = [.data(1, ByteBuffer(string: "first")), Frame(streamID: 0, payload: .ping(opaque: 7)),
                               .data(3, ByteBuffer(string: "after")), Frame(streamID: 0, payload: .maxStreams(9))]
        var input = bytes(frames)
        input[17] = 0x7F  // the PING's length: 0x7F000008, far past the end
        let records = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: input))
        #expect(records.count == 4)
        #expect(records[1].error?.malformation == .frameTooLarge)
        #expect(records[1].error?.offset == 17)
        #expect(records[1].bytes.readableBytes == 20)
        #expect(records[2].frame == frames[2])
        #expect(records[3].frame == frames[3])
    }

    @Test("garbage before the first frame: BAD_PREFACE at 0, then frames from the first boundary")
    func garbageBeforeFrames() throws {
        let frames: [Frame] = [Frame(streamID: 0, payload: .hello(Hello())), Frame(streamID: 0, payload: .ping(opaque: 1))]
        let input = [0x89, 0x53, 0x48, 0x00, 0xFF, 0x01] + bytes(frames)
        let records = ResynchronizingDecoder().decode(ByteBuffer(bytes: input))
        let expected: [FrameDecodingError.Malformation?] = [.badPreface, nil, nil]
        #expect(records.map { $0.error?.malformation } == expected)
        #expect(records[1].offset == 6)
        #expect(records.dropFirst().compactMap(\.frame) == frames)
    }

    @Test("input cut short: TRUNCATED_FRAME at the frame's start, and no resumption")
    func truncated() throws {
        let input = bytes([.data(1, ByteBuffer(string: "whole")), .data(1, ByteBuffer(string: "cut"))]).dropLast(2)
        let records = ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: Array(input)))
        #expect(records.count == 2)
        #expect(records[1].error?.malformation == .truncatedFrame)
        #expect(records[1].error?.offset == 17)
        #expect(records[1].content == WireRecord.Content.malformed(records[1].error!, resumed: false))
    }

    @Test("limits apply: a frame above the receiver's MAX_FRAME_SIZE is FRAME_TOO_LARGE, within a larger one it decodes")
    func limits() throws {
        let input = bytes([.data(1, ByteBuffer(bytes: [UInt8](repeating: 1, count: 20_000)))])
        #expect(ResynchronizingDecoder(preface: .absent).decode(ByteBuffer(bytes: input)).first?.error?.malformation == .frameTooLarge)
        let larger = ResynchronizingDecoder(limits: .init(maxFrameSize: 65_536), preface: .absent)
        #expect(larger.decode(ByteBuffer(bytes: input)).first?.frame != nil)
    }

    @Test("random corruption never loses octets and never crashes")
    func randomCorruption() throws {
        var generator = SystemRandomNumberGenerator()
        let clean = WireLimits.preface + bytes(everyKindOfFrame)
        for _ in 0..<300 {
            var input = clean
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                input[Int.random(in: 0..<input.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { input.removeLast(Int.random(in: 0..<50, using: &generator)) }
            let records = ResynchronizingDecoder(maxResyncScan: 4_096).decode(ByteBuffer(bytes: input))
            #expect(records.flatMap { Array($0.bytes.readableBytesView) } == input)
            let text = records.map { WireTextFormat.line($0, options: .exact) }.joined(separator: "\n")
            #expect(try WireTextParser.parse(text).flatMap(\.bytes) == input)
        }
    }
}
