import NIOCore
import ShuntWire

/// The properties every input must keep when fed to `FrameDecoder`, whatever its bytes. The libFuzzer
/// target (`Fuzz/`) checks them on generated input, and the unit tests replay `Fuzz/FailCases/` through
/// the same checks, so a crash the fuzzer once found stays fixed.
public enum DecoderInvariants {
    /// What went wrong, precisely enough to debug from the log.
    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// How one input decodes: the frames, then the error or nil.
    public struct Outcome: Equatable {
        public var frames: [Frame]
        public var error: FrameDecodingError?
    }

    /// The first input octet selects the variant (preface or not, and limits); the rest is the stream.
    public static func check(_ input: [UInt8]) throws(Violation) {
        guard let selector = input.first else { return }
        let stream = Array(input.dropFirst())
        let preface = selector & 1 != 0
        let limits = FrameDecoder.Limits(
            maxFrameSize: selector & 2 != 0 ? 16_384 : 65_536,
            maxMetadataSize: selector & 4 != 0 ? 256 : 8_192
        )

        // 1. Whole and split input give the same frames and the same error.
        let whole = decode(stream, limits: limits, preface: preface, chunk: 0)
        let split = Int(selector >> 3) % 13 + 1
        let chunked = decode(stream, limits: limits, preface: preface, chunk: split)
        guard whole == chunked else {
            throw Violation(description: "decoding whole and in \(split)-octet chunks differ: \(whole) vs \(chunked)")
        }
        // As the session feeds it: the buffered start of a frame copied out after each drain, and
        // sometimes two inputs appended before a drain.
        let owning = decode(stream, limits: limits, preface: preface, chunk: split, owning: true)
        guard whole == owning else {
            throw Violation(description: "decoding whole and in \(split)-octet chunks with ownBufferedBytes differ: \(whole) vs \(owning)")
        }

        // 2. An error points inside the input and at a frame boundary the decoder reached.
        let prefaceOctets = preface ? min(WireLimits.preface.count, stream.count) : 0
        var consumed = prefaceOctets
        for frame in whole.frames { consumed += WireLimits.headerSize + frame.payloadLength }
        if let error = whole.error {
            guard error.offset <= stream.count else {
                throw Violation(description: "error offset \(error.offset) is past the input's \(stream.count) octets: \(error)")
            }
            let inPreface = error.malformation == .badPreface
                || (error.malformation == .truncatedFrame && preface && stream.count < WireLimits.preface.count)
            let expected = inPreface ? 0 : consumed
            guard error.offset == expected else {
                throw Violation(description: "error at offset \(error.offset), but the decoded frames end at \(expected): \(error)")
            }
        } else if consumed != stream.count {
            throw Violation(description: "no error, but frames cover \(consumed) of \(stream.count) octets")
        }

        // 3. Every decoded frame re-encodes to exactly its input octets and decodes back to itself.
        var position = prefaceOctets
        for frame in whole.frames {
            let size = WireLimits.headerSize + frame.payloadLength
            guard size <= Int(limits.maxFrameSize) + WireLimits.headerSize else {
                throw Violation(description: "a decoded frame of \(size) octets exceeds the limit \(limits.maxFrameSize): \(frame)")
            }
            let encoded = FrameEncoder.bytes(of: frame)
            guard encoded.readableBytesView.elementsEqual(stream[position..<(position + size)]) else {
                throw Violation(description: "frame at \(position) re-encodes differently: \(frame)")
            }
            var again = FrameDecoder(limits: limits)
            again.append(encoded)
            let back: Frame?
            do { back = try again.next() } catch {
                throw Violation(description: "re-encoded frame at \(position) fails to decode: \(error)")
            }
            guard back == frame else {
                throw Violation(description: "frame at \(position) does not round-trip: \(frame) vs \(String(describing: back))")
            }
            _ = frame.description  // describing any decoded frame must not trap
            position += size
        }
        _ = whole.error?.description
    }

    /// Decodes `stream` in `chunk`-octet pieces (0: whole), then signals the end of input. `owning`:
    /// every other piece is appended without draining first, and `ownBufferedBytes` follows each drain.
    public static func decode(_ stream: [UInt8], limits: FrameDecoder.Limits, preface: Bool, chunk: Int, owning: Bool = false) -> Outcome {
        var decoder = FrameDecoder(limits: limits, expectsPreface: preface)
        var frames: [Frame] = []
        let size = chunk == 0 ? max(stream.count, 1) : chunk
        var start = 0
        var piece = 0
        repeat {
            let end = min(start + size, stream.count)
            decoder.append(ByteBuffer(bytes: stream[start..<end]))
            start = end
            piece += 1
            if owning && piece % 2 == 1 && start < stream.count { continue }
            do {
                while let frame = try decoder.next() { frames.append(frame) }
            } catch {
                return Outcome(frames: frames, error: error)
            }
            if owning { decoder.ownBufferedBytes() }
        } while start < stream.count
        do {
            try decoder.finish()
        } catch {
            return Outcome(frames: frames, error: error)
        }
        return Outcome(frames: frames, error: nil)
    }
}
