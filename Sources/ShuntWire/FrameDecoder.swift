import NIOCore

/// An incremental decoder of Shunt frames (spec §2.1, §3, §4). Feed it bytes split anywhere with
/// `append(_:)`; `next()` returns each complete frame, with byte payloads as slices of the input.
/// It validates in the order of spec §3.1 and checks the header before waiting for the payload, so an
/// oversize frame is refused before it is buffered. No I/O, no clocks.
public struct FrameDecoder: Sendable {
    /// The receiver's own settings that bound what it accepts.
    public struct Limits: Hashable, Sendable {
        /// `MAX_FRAME_SIZE` this side advertised.
        public var maxFrameSize: UInt32
        /// `MAX_METADATA_SIZE` this side advertised.
        public var maxMetadataSize: UInt32

        public init(maxFrameSize: UInt32 = WireLimits.defaultMaxFrameSize, maxMetadataSize: UInt32 = WireLimits.defaultMaxMetadataSize) {
            self.maxFrameSize = maxFrameSize
            self.maxMetadataSize = maxMetadataSize
        }

        public static let `default` = Limits()
    }

    public let limits: Limits
    @usableFromInline var buffer: ByteBuffer
    /// Octets of the preface still to check; 0 once it has been seen (or when none is expected).
    @usableFromInline var prefaceRemaining: Int
    /// Octets consumed before `buffer`'s reader index: the stream offset of the next frame.
    @usableFromInline var consumed: Int
    @usableFromInline var failure: FrameDecodingError?
    /// After a failure the caller chose to skip: octets still to discard, and the frame's length.
    @usableFromInline var failedFrameLength: Int?
    @usableFromInline var skipRemaining: Int
    /// Input not yet moved into `buffer`, kept as it came while a frame begun in `buffer` waits for
    /// the rest of it (see `topUp`).
    @usableFromInline var rest: ByteBuffer?
    /// `buffer` is storage the decoder made (not the caller's input): writing to it copies nothing.
    @usableFromInline var bufferIsOwn: Bool

    public init(limits: Limits = .default, expectsPreface: Bool = false) {
        self.limits = limits
        self.buffer = ByteBuffer()
        self.prefaceRemaining = expectsPreface ? WireLimits.preface.count : 0
        self.consumed = 0
        self.failure = nil
        self.failedFrameLength = nil
        self.skipRemaining = 0
        self.rest = nil
        self.bufferIsOwn = true
    }

    /// Octets received but not yet returned as frames.
    public var bufferedBytes: Int { buffer.readableBytes + (rest?.readableBytes ?? 0) }

    /// Octets of the stream consumed so far: the offset at which the next frame starts.
    public var offset: Int { consumed }

    /// Adds received bytes. When nothing is buffered the input is taken as it is, so frames decoded
    /// from it are slices of the caller's buffer. When a frame begun earlier waits for its end, only
    /// that frame's missing octets are copied (`topUp`); the frames after it are slices again.
    @inlinable
    public mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if rest != nil {
            rest!.writeImmutableBuffer(bytes)
        } else if buffer.readableBytes == 0 {
            buffer = bytes
            bufferIsOwn = false
        } else {
            rest = bytes
        }
    }

    /// Stops referring to the caller's input: what is buffered (the start of a frame) is copied into
    /// storage of the decoder's own, and nothing else of the input is kept. For an I/O layer that
    /// reuses its read buffer: NIOSSL copies the whole of a buffer that someone else still refers
    /// to before reading into it again. Call it once an input has been drained with `next()`.
    public mutating func ownBufferedBytes() {
        if var more = rest {
            rest = nil
            makeBufferOwn(extra: more.readableBytes)
            buffer.writeBuffer(&more)
        }
        if buffer.readableBytes == 0 {
            if !bufferIsOwn {
                buffer = ByteBuffer()
                bufferIsOwn = true
            }
            return
        }
        makeBufferOwn(extra: 0)
    }

    /// Copies what `buffer` holds into new storage with room for `extra` more octets, unless it is
    /// already the decoder's own.
    @usableFromInline
    mutating func makeBufferOwn(extra: Int) {
        guard !bufferIsOwn else { return }
        var own = ByteBufferAllocator().buffer(capacity: buffer.readableBytes + extra)
        own.writeImmutableBuffer(buffer)
        buffer = own
        bufferIsOwn = true
    }

    /// What the frame begun in `buffer` still needs before it can be decoded: the rest of its header,
    /// then the rest of its payload; 0 when `buffer` holds a whole frame or nothing. While the
    /// preface is checked or a malformed frame skipped, everything.
    @inlinable
    var pendingNeed: Int {
        let have = buffer.readableBytes
        guard have > 0 else { return 0 }
        if skipRemaining > 0 || prefaceRemaining > 0 { return Int.max }
        if have < WireLimits.headerSize { return WireLimits.headerSize - have }
        let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
        return max(0, WireLimits.headerSize + length - have)
    }

    /// Moves from `rest` into `buffer` what the frame begun in `buffer` still needs, into storage of
    /// the decoder's own; once `buffer` is used up, takes `rest` as it is. Only a frame that
    /// straddles two inputs is copied. What is copied is bounded by the input at hand: a header
    /// announcing an oversize frame is refused by `decodeFrame` as soon as it is whole.
    @inlinable
    mutating func topUp() {
        guard var more = rest else { return }
        if buffer.readableBytes == 0 {
            buffer = more
            bufferIsOwn = false
            rest = nil
            return
        }
        while more.readableBytes > 0 {
            let need = pendingNeed
            guard need > 0 else { break }
            let part = more.readSlice(length: min(need, more.readableBytes))!
            makeBufferOwn(extra: min(more.readableBytes + part.readableBytes, Int(limits.maxFrameSize) + WireLimits.headerSize))
            buffer.writeImmutableBuffer(part)
        }
        rest = more.readableBytes > 0 ? more : nil
    }

    /// The input ended: fails with `TRUNCATED_FRAME` if a frame (or the preface) was cut short.
    public func finish() throws(FrameDecodingError) {
        if let failure { throw failure }
        var decoder = self
        decoder.ownBufferedBytes()
        let buffer = decoder.buffer
        guard buffer.readableBytes > 0 || (prefaceRemaining > 0 && prefaceRemaining < WireLimits.preface.count) else { return }
        if prefaceRemaining > 0 {
            throw FrameDecodingError(.truncatedFrame, offset: 0, detail: "the input ended inside the preface")
        }
        if skipRemaining > 0 { return }
        let have = buffer.readableBytes
        if have < WireLimits.headerSize {
            throw FrameDecodingError(.truncatedFrame, offset: consumed, detail: "the input ended after \(have) of the \(WireLimits.headerSize) header octets")
        }
        let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
        throw FrameDecodingError(.truncatedFrame, offset: consumed, detail: "the input ended after \(have - WireLimits.headerSize) of \(length) payload octets")
    }

    /// After a failure, skips the malformed frame so a tool can go on decoding. Returns false when the
    /// frame's extent is unknown (a bad preface or a truncated input), where decoding cannot resume.
    public mutating func skipMalformedFrame() -> Bool {
        guard failure != nil, let length = failedFrameLength else { return false }
        failure = nil
        failedFrameLength = nil
        skipRemaining = length
        return true
    }

    /// The next complete frame, nil when more input is needed. After an error every call throws it again.
    @inlinable
    public mutating func next() throws(FrameDecodingError) -> Frame? {
        if let failure { throw failure }
        topUp()
        if skipRemaining > 0 {
            let skipped = min(skipRemaining, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: skipped)
            consumed += skipped
            skipRemaining -= skipped
            if skipRemaining > 0 { return nil }
        }
        if prefaceRemaining > 0 {
            guard try checkPreface() else { return nil }
        }
        do {
            return try decodeFrame()
        } catch {
            failure = error
            throw error
        }
    }

    @usableFromInline
    mutating func checkPreface() throws(FrameDecodingError) -> Bool {
        let preface = WireLimits.preface
        while prefaceRemaining > 0, let octet = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
            let index = preface.count - prefaceRemaining
            guard octet == preface[index] else {
                let error = FrameDecodingError(.badPreface, offset: 0, detail: "octet \(index) is 0x\(hex2(octet)), the preface has 0x\(hex2(preface[index])) there (is the peer speaking Shunt?)")
                failure = error
                throw error
            }
            buffer.moveReaderIndex(forwardBy: 1)
            consumed += 1
            prefaceRemaining -= 1
        }
        return prefaceRemaining == 0
    }

    @inlinable
    mutating func decodeFrame() throws(FrameDecodingError) -> Frame? {
        let available = buffer.readableBytes
        guard available >= WireLimits.headerSize else { return nil }
        let start = buffer.readerIndex
        let (length32, type, flags, reserved, rawStream) = buffer.withUnsafeReadableBytes { raw in
            (
                UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                raw[4],
                raw[5],
                UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 6, as: UInt16.self)),
                UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            )
        }
        try validateHeader(length: length32, type: type, flags: flags, reserved: reserved, rawStream: rawStream)
        let length = Int(length32)
        guard available >= WireLimits.headerSize + length else { return nil }

        let stream = StreamID(rawStream)
        let payloadStart = start + WireLimits.headerSize
        let frame: Frame
        switch type {
        case FrameType.data.rawValue:
            let bytes = buffer.getSlice(at: payloadStart, length: length)!
            frame = Frame(streamID: stream, payload: .data(bytes, fin: flags & FrameFlags.fin != 0, compressed: flags & FrameFlags.compressed != 0))
        case FrameType.windowUpdate.rawValue:
            let value = buffer.getInteger(at: payloadStart, as: UInt32.self)!
            if value & 0x8000_0000 != 0 {
                throw malformed(.reservedBitsSet, "WINDOW_UPDATE has its reserved bit set")
            }
            if value == 0 {
                throw malformed(.zeroWindowIncrement, "WINDOW_UPDATE on stream \(stream) has an increment of 0")
            }
            frame = Frame(streamID: stream, payload: .windowUpdate(increment: value))
        case FrameType.ping.rawValue:
            let opaque = buffer.getInteger(at: payloadStart, as: UInt64.self)!
            frame = Frame(streamID: stream, payload: .ping(opaque: opaque, ack: flags & FrameFlags.ack != 0))
        case FrameType.streamOpen.rawValue:
            let kind = StreamKind(rawValue: buffer.getInteger(at: payloadStart, as: UInt8.self)!)
            let block = buffer.getSlice(at: payloadStart + 1, length: length - 1)!
            let metadata: StreamMetadata
            do {
                metadata = try StreamMetadata(validating: block)
            } catch {
                throw malformed(.badMetadata, "STREAM_OPEN on stream \(stream): \(error.message)")
            }
            frame = Frame(streamID: stream, payload: .streamOpen(kind: kind, metadata: metadata, fin: flags & FrameFlags.fin != 0))
        case FrameType.reset.rawValue:
            let code = ErrorCode(rawValue: buffer.getInteger(at: payloadStart, as: UInt32.self)!)
            let reason = buffer.getSlice(at: payloadStart + 4, length: length - 4)!
            frame = Frame(streamID: stream, payload: .reset(code, reason: reason))
        case FrameType.goAway.rawValue:
            let last = buffer.getInteger(at: payloadStart, as: UInt32.self)!
            if last & 0x8000_0000 != 0 {
                throw malformed(.reservedBitsSet, "GOAWAY has the reserved bit of its last stream id set")
            }
            let code = ErrorCode(rawValue: buffer.getInteger(at: payloadStart + 4, as: UInt32.self)!)
            let debug = buffer.getSlice(at: payloadStart + 8, length: length - 8)!
            frame = Frame(streamID: stream, payload: .goAway(lastStreamID: StreamID(last), code: code, debug: debug))
        case FrameType.hello.rawValue:
            frame = Frame(streamID: stream, payload: .hello(try decodeHello(at: payloadStart, length: length)))
        case FrameType.maxStreams.rawValue:
            let value = buffer.getInteger(at: payloadStart, as: UInt32.self)!
            if value & 0x8000_0000 != 0 {
                throw malformed(.reservedBitsSet, "MAX_STREAMS has its reserved bit set")
            }
            frame = Frame(streamID: stream, payload: .maxStreams(value))
        default:
            let payload = buffer.getSlice(at: payloadStart, length: length)!
            frame = Frame(streamID: stream, payload: .extension(type: FrameType(rawValue: type), flags: flags, payload: payload))
        }
        buffer.moveReaderIndex(forwardBy: WireLimits.headerSize + length)
        consumed += WireLimits.headerSize + length
        return frame
    }

    /// Steps 1–7 of spec §3.1: everything the header alone can tell.
    @inlinable
    mutating func validateHeader(length: UInt32, type: UInt8, flags: UInt8, reserved: UInt16, rawStream: UInt32) throws(FrameDecodingError) {
        failedFrameLength = WireLimits.headerSize + Int(length)
        let frameType = FrameType(rawValue: type)
        if length > limits.maxFrameSize {
            throw malformed(.frameTooLarge, "\(frameType.name) length \(length) exceeds MAX_FRAME_SIZE \(limits.maxFrameSize)")
        }
        if reserved != 0 || rawStream & 0x8000_0000 != 0 {
            throw malformed(.reservedBitsSet, reserved != 0 ? "header octets 6-7 are 0x\(String(reserved, radix: 16)), not 0" : "the R bit of the stream id is set")
        }
        if frameType.isExtension { return }
        if !frameType.isDefined {
            throw malformed(.unknownFrameType, "frame type 0x\(hex2(type)) is reserved")
        }
        let undefined = flags & ~frameType.definedFlags
        if undefined != 0 {
            throw malformed(.undefinedFlags, "\(frameType.name) has undefined flags 0x\(hex2(undefined))")
        }
        let valid: Bool
        let onSession = rawStream == 0
        switch type {
        case FrameType.data.rawValue, FrameType.streamOpen.rawValue, FrameType.reset.rawValue:
            if onSession { throw malformed(.zeroStreamID, "\(frameType.name) on stream 0") }
        case FrameType.ping.rawValue, FrameType.goAway.rawValue, FrameType.hello.rawValue, FrameType.maxStreams.rawValue:
            if !onSession { throw malformed(.nonzeroStreamID, "\(frameType.name) on stream \(rawStream); it belongs on stream 0") }
        default:
            break
        }
        switch type {
        case FrameType.data.rawValue: valid = true
        case FrameType.streamOpen.rawValue: valid = length >= 1
        case FrameType.reset.rawValue: valid = length >= 4 && length <= 4 + UInt32(WireLimits.maxResetReason)
        case FrameType.windowUpdate.rawValue, FrameType.maxStreams.rawValue: valid = length == 4
        case FrameType.ping.rawValue: valid = length == 8
        case FrameType.goAway.rawValue: valid = length >= 8 && length <= 8 + UInt32(WireLimits.maxGoAwayDebug)
        case FrameType.hello.rawValue: valid = length >= 4 && (length - 4) % 6 == 0 && (length - 4) / 6 <= UInt32(WireLimits.maxHelloSettings)
        default: valid = true
        }
        if !valid {
            throw malformed(.badFrameLength, "\(frameType.name) cannot have length \(length)")
        }
        if type == FrameType.streamOpen.rawValue && length - 1 > limits.maxMetadataSize {
            throw malformed(.metadataTooLarge, "STREAM_OPEN on stream \(rawStream) carries \(length - 1) octets of metadata; MAX_METADATA_SIZE is \(limits.maxMetadataSize)")
        }
    }

    @usableFromInline
    func decodeHello(at start: Int, length: Int) throws(FrameDecodingError) -> Hello {
        let minVersion = buffer.getInteger(at: start, as: UInt16.self)!
        let maxVersion = buffer.getInteger(at: start + 2, as: UInt16.self)!
        if minVersion == 0 { throw malformed(.badHello, "HELLO min_version is 0") }
        if minVersion > maxVersion { throw malformed(.badHello, "HELLO min_version \(minVersion) is above max_version \(maxVersion)") }
        let count = (length - 4) / 6
        var settings: [Setting] = []
        settings.reserveCapacity(count)
        for index in 0..<count {
            let at = start + 4 + 6 * index
            let id = SettingID(rawValue: buffer.getInteger(at: at, as: UInt16.self)!)
            let value = buffer.getInteger(at: at + 2, as: UInt32.self)!
            if id.rawValue == 0 { throw malformed(.badHello, "HELLO setting \(index) has id 0") }
            if settings.contains(where: { $0.id == id }) { throw malformed(.badHello, "HELLO repeats setting \(id.name)") }
            if let range = id.validValues, !range.contains(value) {
                throw malformed(.badSettingValue, "HELLO setting \(id.name) = \(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
            settings.append(Setting(id, value))
        }
        return Hello(minVersion: minVersion, maxVersion: maxVersion, settings: settings)
    }

    @usableFromInline
    func malformed(_ malformation: FrameDecodingError.Malformation, _ detail: String) -> FrameDecodingError {
        FrameDecodingError(malformation, offset: consumed, detail: detail)
    }
}
