import NIOCore

/// The metadata block of a STREAM_OPEN (spec §10.1): key/value entries, kept as the slice of the
/// frame they arrived in and read on demand, so decoding copies nothing.
public struct StreamMetadata: Hashable, Sendable, Sequence {
    /// One entry; `key` and `value` are slices of the block.
    public struct Entry: Hashable, Sendable {
        public var key: ByteBuffer
        public var value: ByteBuffer

        public var keyString: String { String(buffer: key) }
        public var valueString: String { String(buffer: value) }
    }

    /// The encoded block, exactly as on the wire.
    public let bytes: ByteBuffer

    /// An empty block.
    public init() {
        self.bytes = ByteBuffer()
    }

    /// Builds a block from keys and values in this order. Keys must follow spec §10.1.
    public init(_ entries: [(key: String, value: String)]) {
        self.init(bytesEntries: entries.map { ($0.key, Array($0.value.utf8)) })
    }

    /// Builds a block from keys and raw values in this order. Keys must follow spec §10.1.
    public init(bytesEntries entries: [(key: String, value: [UInt8])]) {
        var buffer = ByteBuffer()
        for (key, value) in entries {
            precondition(Self.isValidKey(key.utf8), "invalid metadata key \(key)")
            precondition(value.count <= Int(UInt16.max), "metadata value longer than 65535 octets")
            buffer.writeInteger(UInt8(key.utf8.count))
            buffer.writeString(key)
            buffer.writeInteger(UInt16(value.count))
            buffer.writeBytes(value)
        }
        self.bytes = buffer
    }

    /// Wraps bytes without checking them: for tools that craft malformed input on purpose.
    public init(unchecked bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// Checks `bytes` against spec §10.1; the error says which rule broke.
    @inlinable
    public init(validating bytes: ByteBuffer) throws(MetadataError) {
        try Self.validate(bytes)
        self.bytes = bytes
    }

    public var isEmpty: Bool { bytes.readableBytes == 0 }

    /// The value for `key`, or nil. Compares octets; allocates nothing.
    public subscript(key: String) -> ByteBuffer? {
        for entry in self where entry.key.readableBytesView.elementsEqual(key.utf8) {
            return entry.value
        }
        return nil
    }

    /// The value for `key` as UTF-8 text, or nil.
    public func string(_ key: String) -> String? {
        self[key].map { String(buffer: $0) }
    }

    public func makeIterator() -> Iterator {
        Iterator(remaining: bytes)
    }

    public struct Iterator: IteratorProtocol {
        var remaining: ByteBuffer

        public mutating func next() -> Entry? {
            guard let keyLength = remaining.readInteger(as: UInt8.self),
                  let key = remaining.readSlice(length: Int(keyLength)),
                  let valueLength = remaining.readInteger(as: UInt16.self),
                  let value = remaining.readSlice(length: Int(valueLength))
            else { return nil }
            return Entry(key: key, value: value)
        }
    }

    /// Why a metadata block is malformed (all are `BAD_METADATA`).
    public enum MetadataError: Error, Hashable, Sendable {
        case emptyKey(entry: Int)
        case invalidKeyOctet(entry: Int, octet: UInt8)
        case truncated(entry: Int)
        case duplicateKey(entry: Int)
        case tooManyEntries

        public var message: String {
            switch self {
            case .emptyKey(let entry): "entry \(entry) has an empty key"
            case .invalidKeyOctet(let entry, let octet): "entry \(entry) has a key octet 0x\(hex2(octet)) outside a-z 0-9 - . _"
            case .truncated(let entry): "entry \(entry) is cut short by the end of the block"
            case .duplicateKey(let entry): "entry \(entry) repeats an earlier key"
            case .tooManyEntries: "more than \(WireLimits.maxMetadataEntries) entries"
            }
        }
    }

    @inlinable
    static func isValidKeyOctet(_ octet: UInt8) -> Bool {
        switch octet {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    static func isValidKey(_ key: some Collection<UInt8>) -> Bool {
        !key.isEmpty && key.count <= WireLimits.maxMetadataKeyLength && key.allSatisfy(isValidKeyOctet)
    }

    @inlinable
    static func validate(_ bytes: ByteBuffer) throws(MetadataError) {
        let start = bytes.readerIndex
        let end = bytes.writerIndex
        var cursor = start
        var entry = 0
        while cursor < end {
            if entry == WireLimits.maxMetadataEntries { throw .tooManyEntries }
            let keyLength = Int(bytes.getInteger(at: cursor, as: UInt8.self)!)
            if keyLength == 0 { throw .emptyKey(entry: entry) }
            let keyStart = cursor + 1
            guard keyStart + keyLength + 2 <= end else { throw .truncated(entry: entry) }
            for index in keyStart..<(keyStart + keyLength) {
                let octet = bytes.getInteger(at: index, as: UInt8.self)!
                if !isValidKeyOctet(octet) { throw .invalidKeyOctet(entry: entry, octet: octet) }
            }
            // Duplicates: rescan the earlier (already valid) entries; at most 64, and no allocation.
            var earlier = start
            while earlier < cursor {
                let earlierLength = Int(bytes.getInteger(at: earlier, as: UInt8.self)!)
                if earlierLength == keyLength,
                   bytes.withUnsafeReadableBytes({ raw in
                       memoryEqual(raw, earlier + 1 - start, keyStart - start, keyLength)
                   }) {
                    throw .duplicateKey(entry: entry)
                }
                let earlierValue = Int(bytes.getInteger(at: earlier + 1 + earlierLength, as: UInt16.self)!)
                earlier += 1 + earlierLength + 2 + earlierValue
            }
            let valueLength = Int(bytes.getInteger(at: keyStart + keyLength, as: UInt16.self)!)
            cursor = keyStart + keyLength + 2 + valueLength
            guard cursor <= end else { throw .truncated(entry: entry) }
            entry += 1
        }
    }
}

@inlinable
func memoryEqual(_ raw: UnsafeRawBufferPointer, _ first: Int, _ second: Int, _ length: Int) -> Bool {
    for offset in 0..<length where raw[first + offset] != raw[second + offset] {
        return false
    }
    return true
}
