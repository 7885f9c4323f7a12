import NIOCore
import ShuntWire
import Testing

@Suite struct FrameDecoderTests {
    func header(length: UInt32, type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(length, type, flags, UInt16(0), stream)
        return buffer
    }

    @Test func anOversizeFrameIsRefusedFromItsHeaderBeforeThePayloadArrives() throws {
        var decoder = FrameDecoder()
        decoder.append(header(length: 1_000_000, type: 0, stream: 1))
        #expect(throws: FrameDecodingError(.frameTooLarge, offset: 0, detail: "DATA length 1000000 exceeds MAX_FRAME_SIZE 16384")) {
            try decoder.next()
        }
        #expect(decoder.bufferedBytes == 12)
    }

    @Test func aFrameOfExactlyMaxFrameSizeIsAcceptedAndOneMoreIsNot() throws {
        for (size, ok) in [(16_384, true), (16_385, false)] {
            var bytes = header(length: UInt32(size), type: 0, stream: 1)
            bytes.writeRepeatingByte(7, count: size)
            let (frames, error) = decodeAll(Array(bytes.readableBytesView))
            #expect((error == nil) == ok)
            #expect(frames.count == (ok ? 1 : 0))
        }
    }

    @Test func metadataOfExactlyTheLimitIsAcceptedAndOneMoreIsNot() throws {
        let limits = FrameDecoder.Limits(maxMetadataSize: 256)
        for (size, ok) in [(256, true), (257, false)] {
            // One entry: 1 + 3 ("key") + 2 + value.
            let metadata = StreamMetadata(bytesEntries: [("key", Array(repeating: 0x61, count: size - 6))])
            let frame = Frame(streamID: StreamID(1), payload: .streamOpen(kind: .http, metadata: metadata))
            let (frames, error) = decodeAll(Array(FrameEncoder.bytes(of: frame).readableBytesView), limits: limits)
            #expect((error == nil) == ok, "\(size): \(String(describing: error))")
            #expect(error.map { $0.malformation == .metadataTooLarge } ?? true)
            #expect(frames == (ok ? [frame] : []))
        }
    }

    @Test func dataPayloadsAreSlicesOfTheInputNotCopies() throws {
        var input = ByteBuffer()
        FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: 0x42, count: 4096)), into: &input)
        FrameEncoder.encodeWhole(.data(StreamID(3), ByteBuffer(repeating: 0x43, count: 4096), fin: true), into: &input)
        let inputBase = input.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = FrameDecoder()
        decoder.append(input)
        var addresses: [UInt] = []
        while let frame = try decoder.next() {
            guard case .data(let payload, _, _) = frame.payload else { Issue.record("not DATA"); return }
            addresses.append(payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) })
        }
        #expect(addresses == [inputBase + 12, inputBase + 12 + 4096 + 12])
    }

    /// A frame cut across two inputs is the only one copied: the frames after it are slices of the
    /// second input again, and the header is read in two steps when the cut falls inside it.
    @Test(arguments: [3, 12, 100, 4095]) func onlyTheFrameThatStraddlesTwoInputsIsCopied(cut: Int) throws {
        var stream = ByteBuffer()
        FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: 0x41, count: 4096)), into: &stream)
        for index in 0..<3 {
            FrameEncoder.encodeWhole(.data(StreamID(3), ByteBuffer(repeating: 0x42 + UInt8(index), count: 1000)), into: &stream)
        }
        // The first input ends `cut` octets into the first frame; the second holds the rest.
        let first = stream.getSlice(at: 0, length: cut)!
        var second = ByteBufferAllocator().buffer(capacity: stream.readableBytes)
        second.writeImmutableBuffer(stream.getSlice(at: cut, length: stream.readableBytes - cut)!)
        let secondBase = second.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = FrameDecoder()
        decoder.append(first)
        #expect(try decoder.next() == nil)
        decoder.ownBufferedBytes()
        decoder.append(second)
        var payloads: [ByteBuffer] = []
        while let frame = try decoder.next() {
            guard case .data(let payload, _, _) = frame.payload else { Issue.record("not DATA"); return }
            payloads.append(payload)
        }
        #expect(payloads.map(\.readableBytes) == [4096, 1000, 1000, 1000])
        #expect(payloads[0].readableBytesView.allSatisfy { $0 == 0x41 })
        let addresses = payloads.map { $0.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        let firstFrameEnd = 12 + 4096 - cut
        #expect(!(secondBase..<secondBase + UInt(second.readableBytes)).contains(addresses[0]), "the straddling frame is a copy")
        #expect(Array(addresses.dropFirst()) == [0, 1, 2].map { secondBase + UInt(firstFrameEnd + $0 * 1012 + 12) })
        #expect(decoder.bufferedBytes == 0)
        try decoder.finish()
    }

    /// After `ownBufferedBytes` the decoder no longer refers to the caller's storage, so a reader
    /// that reuses its buffer (as NIOSSL does) writes into it in place instead of copying it.
    @Test func ownBufferedBytesLetsGoOfTheCallersStorage() throws {
        var input = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: 1, count: 1000)), into: &input)
        FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: 2, count: 1000)), into: &input)
        input.moveWriterIndex(to: input.writerIndex - 500)  // the second frame is cut short
        let base = input.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = FrameDecoder()
        decoder.append(input)
        let frame = try #require(try decoder.next())
        #expect(try decoder.next() == nil)
        decoder.ownBufferedBytes()
        // What the reader does next: reuse its buffer from the start (the decoded frame is dropped).
        _ = consume frame
        input.moveReaderIndex(to: 0)
        input.moveWriterIndex(to: 0)
        input.writeRepeatingByte(9, count: 100)
        #expect(input.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) } == base, "written in place, not copied")
        // The rest of the cut frame completes it from the decoder's own copy.
        var tail = ByteBuffer()
        FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: 2, count: 1000)), into: &tail)
        decoder.append(tail.getSlice(at: tail.readableBytes - 500, length: 500)!)
        let second = try #require(try decoder.next())
        guard case .data(let payload, _, _) = second.payload else { Issue.record("not DATA"); return }
        #expect(payload.readableBytes == 1000 && payload.readableBytesView.allSatisfy { $0 == 2 })
    }

    @Test func theEncoderHandsDataPayloadsBackInsteadOfCopyingThem() {
        let payload = ByteBuffer(repeating: 1, count: 1000)
        var out = ByteBuffer()
        let rest = FrameEncoder.encode(.data(StreamID(5), payload, fin: true), into: &out)
        #expect(out.readableBytes == 12)
        #expect(rest == payload)
        #expect(rest?.withUnsafeReadableBytes { $0.baseAddress } == payload.withUnsafeReadableBytes { $0.baseAddress })
    }

    @Test func aBadPrefaceIsReportedAtTheFirstWrongOctetWithoutWaitingForEight() {
        var decoder = FrameDecoder(expectsPreface: true)
        decoder.append(ByteBuffer(string: "GE"))
        #expect {
            try decoder.next()
        } throws: { error in
            (error as? FrameDecodingError)?.malformation == .badPreface
        }
    }

    @Test func aCorrectPrefaceIsConsumedAndOffsetsCountFromTheStreamStart() throws {
        var bytes = ByteBuffer()
        FrameEncoder.writePreface(into: &bytes)
        FrameEncoder.encodeWhole(Frame(streamID: .session, payload: .hello(Hello())), into: &bytes)
        bytes.writeMultipleIntegers(UInt32(4), UInt8(0x03), UInt8(0), UInt16(0), UInt32(1), UInt32(0))
        let (frames, error) = decodeAll(Array(bytes.readableBytesView), preface: true)
        #expect(frames == [Frame(streamID: .session, payload: .hello(Hello()))])
        #expect(error?.malformation == .zeroWindowIncrement)
        #expect(error?.offset == 8 + 16)
    }

    @Test func afterAnErrorEveryCallThrowsItAgain() {
        var decoder = FrameDecoder()
        decoder.append(header(length: 0, type: 0x10))
        for _ in 0..<3 {
            #expect { try decoder.next() } throws: { ($0 as? FrameDecodingError)?.malformation == .unknownFrameType }
        }
    }

    @Test func aToolCanSkipAMalformedFrameAndGoOn() throws {
        var bytes = header(length: 3, type: 0x04)  // PING of length 3
        bytes.writeBytes([1, 2, 3])
        FrameEncoder.encodeWhole(Frame(streamID: .session, payload: .ping(opaque: 9)), into: &bytes)
        var decoder = FrameDecoder()
        for byte in bytes.readableBytesView { decoder.append(ByteBuffer(bytes: [byte])) }
        #expect { try decoder.next() } throws: { ($0 as? FrameDecodingError)?.malformation == .badFrameLength }
        let skipped = decoder.skipMalformedFrame()
        #expect(skipped)
        let next = try decoder.next()
        #expect(next == Frame(streamID: .session, payload: .ping(opaque: 9)))
        #expect(decoder.offset == 15 + 20)
    }

    @Test func aTruncatedInputSaysHowMuchOfTheFrameArrived() {
        var bytes = header(length: 10, type: 0, stream: 1)
        bytes.writeBytes([1, 2, 3])
        let (_, error) = decodeAll(Array(bytes.readableBytesView))
        #expect(error?.description == "TRUNCATED_FRAME at octet 0: the input ended after 3 of 10 payload octets")
    }

    @Test func bufferedBytesNeverExceedOneFrame() throws {
        // A stream of 16 KiB frames fed in 1000-octet chunks: the decoder holds at most one frame plus a chunk.
        var decoder = FrameDecoder()
        var bytes = ByteBuffer()
        for index in 0..<64 {
            FrameEncoder.encodeWhole(.data(StreamID(1), ByteBuffer(repeating: UInt8(index), count: 16_384)), into: &bytes)
        }
        var maxBuffered = 0
        var count = 0
        while bytes.readableBytes > 0 {
            decoder.append(bytes.readSlice(length: min(1000, bytes.readableBytes))!)
            maxBuffered = max(maxBuffered, decoder.bufferedBytes)
            while try decoder.next() != nil { count += 1 }
        }
        #expect(count == 64)
        #expect(maxBuffered <= 16_384 + 12 + 1000)
    }
}

@Suite struct WireTypesTests {
    @Test func metadataLooksUpKeysAndIteratesInWireOrder() throws {
        let metadata = StreamMetadata([("intercept", "orders-alice"), ("client", "10.0.0.7:51234")])
        #expect(metadata.string("intercept") == "orders-alice")
        #expect(metadata.string("client") == "10.0.0.7:51234")
        #expect(metadata["port"] == nil)
        #expect(metadata.map(\.keyString) == ["intercept", "client"])
        #expect(try StreamMetadata(validating: metadata.bytes) == metadata)
    }

    @Test(arguments: [
        ([0x00], "entry 0 has an empty key"),
        ([0x01, 0x41, 0x00, 0x00], "entry 0 has a key octet 0x41 outside a-z 0-9 - . _"),
        ([0x01, 0x61, 0x00], "entry 0 is cut short by the end of the block"),
        ([0x01, 0x61, 0x00, 0x02, 0x78], "entry 0 is cut short by the end of the block"),
        ([0x01, 0x61, 0x00, 0x00, 0x01, 0x61, 0x00, 0x00], "entry 1 repeats an earlier key"),
    ] as [([UInt8], String)])
    func malformedMetadataSaysWhichRuleBroke(_ bytes: [UInt8], _ message: String) {
        #expect { try StreamMetadata(validating: ByteBuffer(bytes: bytes)) } throws: {
            ($0 as? StreamMetadata.MetadataError)?.message == message
        }
    }

    @Test func sixtyFourMetadataEntriesAreAcceptedAndSixtyFiveAreNot() {
        let entries = (0..<65).map { (key: "k\($0)", value: "") }
        #expect(throws: Never.self) { try StreamMetadata(validating: StreamMetadata(Array(entries.prefix(64))).bytes) }
        #expect(throws: StreamMetadata.MetadataError.tooManyEntries) { try StreamMetadata(validating: StreamMetadata(entries).bytes) }
    }

    @Test func errorCodesHaveTheirSpecNamesAndUnknownCodesKeepTheirNumber() {
        #expect(ErrorCode.allDefined.count == 18)
        #expect(ErrorCode.flowControlError.description == "FLOW_CONTROL_ERROR")
        #expect(ErrorCode(name: "ENHANCE_YOUR_CALM") == .enhanceYourCalm)
        let unknown = ErrorCode(rawValue: 0x8000_0001)
        #expect(unknown.description == "0x80000001")
        #expect(unknown.effective == .internalError)
    }

    @Test func everyMalformationMapsToTheCodeTheSpecGives() {
        let expected: [FrameDecodingError.Malformation: ErrorCode?] = [
            .badPreface: .protocolError, .truncatedFrame: nil, .frameTooLarge: .frameSizeError,
            .reservedBitsSet: .protocolError, .unknownFrameType: .protocolError, .undefinedFlags: .protocolError,
            .zeroStreamID: .protocolError, .nonzeroStreamID: .protocolError, .badFrameLength: .frameSizeError,
            .metadataTooLarge: .metadataError, .zeroWindowIncrement: .protocolError, .badHello: .protocolError,
            .badSettingValue: .settingsError, .badMetadata: .metadataError,
        ]
        for malformation in FrameDecodingError.Malformation.allCases {
            #expect(malformation.code == expected[malformation]!, "\(malformation)")
        }
    }
}
