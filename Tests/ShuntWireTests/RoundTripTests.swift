import NIOCore
import PropertyBased
import ShuntWire
import Testing

/// Encoding then decoding any valid frame sequence gives it back, however the bytes are split.
@Suite struct RoundTripTests {
    static let words = Gen.uint64(in: UInt64.min...UInt64.max).array(of: 1...24)

    @Test func anyValidFrameSequenceRoundTrips() async {
        await propertyCheck(count: 300, input: Self.words, Gen.int(in: 1...30)) { words, count in
            let frames = RandomFrames.make(count, from: words)
            let (decoded, error) = decodeAll(RandomFrames.encode(frames))
            #expect(error == nil)
            #expect(decoded == frames)
        }
    }

    @Test func decodingOneOctetAtATimeEqualsDecodingWhole() async {
        await propertyCheck(count: 100, input: Self.words, Gen.int(in: 1...20)) { words, count in
            let bytes = RandomFrames.encode(RandomFrames.make(count, from: words))
            let whole = decodeAll(bytes)
            let byByte = decodeAll(bytes, chunk: 1)
            #expect(byByte.error == nil)
            #expect(byByte.frames == whole.frames)
        }
    }

    @Test func decodingAtRandomSplitPointsEqualsDecodingWhole() async {
        await propertyCheck(count: 200, input: Self.words, Gen.int(in: 1...20), Gen.int(in: 2...97)) { words, count, chunk in
            let bytes = RandomFrames.encode(RandomFrames.make(count, from: words))
            let split = decodeAll(bytes, chunk: chunk)
            #expect(split.error == nil)
            #expect(split.frames == decodeAll(bytes).frames)
        }
    }

    @Test func everyPrefixOfAValidStreamIsEitherCompleteOrTruncated() async {
        await propertyCheck(count: 50, input: Self.words, Gen.int(in: 1...6)) { words, count in
            let bytes = RandomFrames.encode(RandomFrames.make(count, from: words))
            for cut in 0..<bytes.count {
                let (_, error) = decodeAll(Array(bytes[..<cut]))
                if let error {
                    #expect(error.malformation == .truncatedFrame)
                }
            }
        }
    }
}
