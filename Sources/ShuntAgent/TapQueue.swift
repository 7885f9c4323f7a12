import NIOCore
import ShuntWireTools

/// The records waiting for a tapper's stream to take them, bounded: a record that would make the
/// queue hold more than `limit` octets is dropped and counted, and the count is told to the tapper
/// (`{"dropped":N}`) just before the next record that fits, where the gap is. That report is never
/// refused, so the queue holds at most `limit` plus one report (`maxReport`). Pure.
public struct TapQueue: Sendable {
    /// Octets a tap may hold for a tapper that reads slowly (spec §11.1: 1 MiB).
    public static let defaultLimit = 1 << 20

    /// The longest drop report, with its newline.
    public static let maxReport = TapCall.droppedLine(Int.max).utf8.count + 1

    public let limit: Int
    /// Octets held now (lines and their newlines).
    public private(set) var queuedOctets = 0
    /// Records dropped since the tap began.
    public private(set) var droppedTotal = 0
    /// Records dropped since the last report.
    public private(set) var unreported = 0
    private var lines = CircularBuffer<ByteBuffer>()

    public init(limit: Int = Self.defaultLimit) {
        self.limit = limit
    }

    public var isEmpty: Bool { lines.isEmpty }

    /// Queues `line` (without its newline); false: it was dropped.
    @discardableResult
    public mutating func push(_ line: String) -> Bool {
        guard queuedOctets + line.utf8.count + 1 <= limit else {
            unreported += 1
            droppedTotal += 1
            return false
        }
        if unreported > 0 {
            append(TapCall.droppedLine(unreported))
            unreported = 0
        }
        append(line)
        return true
    }

    /// Whole lines, oldest first, up to `maxOctets` (at least one line), as one buffer; nil when empty.
    public mutating func take(maxOctets: Int) -> ByteBuffer? {
        guard var buffer = lines.popFirst() else { return nil }
        while let next = lines.first, buffer.readableBytes + next.readableBytes <= maxOctets {
            var line = lines.removeFirst()
            buffer.writeBuffer(&line)
        }
        queuedOctets -= buffer.readableBytes
        return buffer
    }

    private mutating func append(_ line: String) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        queuedOctets += buffer.readableBytes
        lines.append(buffer)
    }
}
