import NIOCore
import ShuntWire

/// Decodes a whole captured byte stream of one direction into records, going on past malformed
/// frames where it can (a receiver stops at the first; a debugging tool wants the rest).
///
/// After a malformation it resumes at the end of the bad frame when that end is plausible (the end
/// of the input, or a position where a well-formed frame starts); otherwise, as after a bad preface
/// or a corrupted length, it scans forward octet by octet for the next position where two
/// well-formed frames follow each other (or one ends exactly at the end of the input). What it
/// skipped is reported with the malformation, octets included.
public struct ResynchronizingDecoder: Sendable {
    public enum Preface: String, Sendable, CaseIterable {
        /// The input starts with the preface if its first octet is the preface's 0x89.
        case auto
        /// The input starts where a session starts: the preface is checked.
        case expected
        /// The input starts at a frame boundary.
        case absent
    }

    /// The receiver's limits the frames are checked against (`MAX_FRAME_SIZE`, `MAX_METADATA_SIZE`).
    public var limits: FrameDecoder.Limits
    public var preface: Preface
    /// How far past a malformation the decoder looks for the next frame boundary before giving up.
    public var maxResyncScan: Int

    /// Octets scanned for a frame boundary after a malformation, at most (1 MiB).
    public static let defaultMaxResyncScan = 1 << 20

    public init(limits: FrameDecoder.Limits = .default, preface: Preface = .auto, maxResyncScan: Int = Self.defaultMaxResyncScan) {
        self.limits = limits
        self.preface = preface
        self.maxResyncScan = maxResyncScan
    }

    /// Every record of `input`, in order; together their octets are exactly the input.
    public func decode(_ input: ByteBuffer, direction: WireDirection? = nil) -> [WireRecord] {
        var records: [WireRecord] = []
        decode(input, direction: direction) { records.append($0) }
        return records
    }

    /// Calls `emit` for each record of `input`, in order.
    public func decode(_ input: ByteBuffer, direction: WireDirection? = nil, emit: (WireRecord) -> Void) {
        let end = input.readableBytes
        var position = 0
        let expectPreface = switch preface {
        case .expected: true
        case .absent: false
        case .auto: input.readableBytesView.first == WireLimits.preface[0]
        }
        if expectPreface {
            var decoder = FrameDecoder(limits: limits, expectsPreface: true)
            decoder.append(input.getSlice(at: input.readerIndex, length: min(end, WireLimits.preface.count))!)
            do {
                _ = try decoder.next()
                try decoder.finish()
                position = decoder.offset
                emit(WireRecord(offset: 0, direction: direction, content: .preface, bytes: slice(input, 0, position)))
            } catch {
                let resume = end < WireLimits.preface.count ? nil : nextBoundary(in: input, from: 1)
                emit(WireRecord(offset: 0, direction: direction, content: .malformed(error, resumed: resume != nil),
                                bytes: slice(input, 0, resume ?? end)))
                guard let resume else { return }
                position = resume
            }
        }
        while position < end {
            var decoder = FrameDecoder(limits: limits)
            decoder.append(slice(input, position, end - position))
            var failure: FrameDecodingError?
            while true {
                let start = position + decoder.offset
                do {
                    guard let frame = try decoder.next() else {
                        try decoder.finish()
                        position = end
                        break
                    }
                    let length = WireLimits.headerSize + frame.payloadLength
                    emit(WireRecord(offset: start, direction: direction, content: .frame(frame), bytes: slice(input, start, length)))
                } catch {
                    failure = FrameDecodingError(error.malformation, offset: position + error.offset, detail: error.detail)
                    break
                }
            }
            guard let failure else { break }
            let failedAt = failure.offset
            var resume: Int?
            if failure.malformation != .truncatedFrame {
                let declared = failedAt + WireLimits.headerSize + Int(input.getInteger(at: input.readerIndex + failedAt, as: UInt32.self)!)
                if declared == end || (declared < end && startsWellFormedFrame(in: input, at: declared)) {
                    resume = declared
                } else {
                    resume = nextBoundary(in: input, from: failedAt + 1)
                }
            }
            emit(WireRecord(offset: failedAt, direction: direction, content: .malformed(failure, resumed: resume != nil),
                            bytes: slice(input, failedAt, (resume ?? end) - failedAt)))
            guard let resume else { break }
            position = resume
        }
    }

    /// The first position at or after `from` (within the scan bound) where decoding can go on.
    func nextBoundary(in input: ByteBuffer, from: Int) -> Int? {
        let end = input.readableBytes
        let last = min(end - WireLimits.headerSize, from + maxResyncScan)
        guard from <= last else { return nil }
        for candidate in from...last {
            // An empty DATA frame without FIN is twelve octets that are mostly zeros, found in any run of
            // zeros; no sender needs one (spec §5.2), so it is no evidence of a frame boundary.
            if input.getInteger(at: input.readerIndex + candidate, as: UInt32.self) == 0,
               input.getInteger(at: input.readerIndex + candidate + 4, as: UInt16.self) == 0 { continue }
            guard let next = wellFormedFrameEnd(in: input, at: candidate) else { continue }
            if next == end || startsWellFormedFrame(in: input, at: next) { return candidate }
        }
        return nil
    }

    /// Whether a complete well-formed frame starts at `at`, or a well-formed header whose payload the
    /// input cuts short (the end of a capture).
    func startsWellFormedFrame(in input: ByteBuffer, at: Int) -> Bool {
        let end = input.readableBytes
        guard end - at >= WireLimits.headerSize else { return false }
        var decoder = FrameDecoder(limits: limits)
        decoder.append(slice(input, at, end - at))
        do {
            return try decoder.next() != nil || decoder.bufferedBytes > 0
        } catch {
            return false
        }
    }

    /// Where a complete well-formed frame starting at `at` ends, or nil.
    func wellFormedFrameEnd(in input: ByteBuffer, at: Int) -> Int? {
        var decoder = FrameDecoder(limits: limits)
        decoder.append(slice(input, at, input.readableBytes - at))
        guard let frame = try? decoder.next() else { return nil }
        return at + WireLimits.headerSize + frame.payloadLength
    }

    func slice(_ input: ByteBuffer, _ at: Int, _ length: Int) -> ByteBuffer {
        input.getSlice(at: input.readerIndex + at, length: length)!
    }
}
