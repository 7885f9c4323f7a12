import NIOCore

/// The field lines of one head or trailer section, as ranges into the bytes they arrived in.
///
/// Nothing is copied or decoded: a name or value is a `ByteBufferView` onto the received octets, so a
/// rule matcher can walk every (name, value) pair without allocating. Names compare ASCII
/// case-insensitively; a name may occur several times, and every lookup visits every occurrence.
public struct HTTPHeaderFields: Sendable, RandomAccessCollection {
    /// One field line: octet ranges of the name and of the value (OWS trimmed) in `storage`.
    struct Slot: Hashable, Sendable {
        var name: Range<Int>
        var value: Range<Int>
        /// Which of the names looked up in every head this one is, recognized when it was parsed.
        var known: KnownFieldName = .other
    }

    /// A field line's name and value, as views onto the received octets.
    public struct Field: Sendable {
        public let name: ByteBufferView
        public let value: ByteBufferView

        public var nameString: String { String(decoding: name, as: UTF8.self) }
        public var valueString: String { String(decoding: value, as: UTF8.self) }

        /// ASCII case-insensitive name comparison.
        public func hasName(_ other: some StringProtocol) -> Bool {
            HTTPSyntax.equalsIgnoringCase(name, other.utf8)
        }
    }

    let storage: ByteBuffer
    let slots: [Slot]
    /// The known names present (`KnownFieldName.bit`): a lookup of an absent one ends at once.
    let present: UInt32

    init(storage: ByteBuffer, slots: [Slot]) {
        self.storage = storage
        self.slots = slots
        var present: UInt32 = 0
        for slot in slots { present |= slot.known.bit }
        self.present = present
    }

    /// Whether a field named `known` is present.
    @inline(__always)
    func has(_ known: KnownFieldName) -> Bool {
        present & known.bit != 0
    }

    /// Which known name field `position` has (`.other` for any other).
    @inline(__always)
    func known(at position: Int) -> KnownFieldName {
        slots[position].known
    }

    /// No fields.
    public init() {
        self.init(storage: ByteBuffer(), slots: [])
    }

    public var startIndex: Int { slots.startIndex }
    public var endIndex: Int { slots.endIndex }

    public subscript(position: Int) -> Field {
        let slot = slots[position]
        return Field(name: view(slot.name), value: view(slot.value))
    }

    /// The octet ranges of field `position`'s name and value, relative to the start of the message's bytes.
    public func ranges(at position: Int) -> (name: Range<Int>, value: Range<Int>) {
        (slots[position].name, slots[position].value)
    }

    /// Every value of the fields named `name`, in order of arrival.
    public func values(named name: some StringProtocol) -> [ByteBufferView] {
        var result: [ByteBufferView] = []
        forEachValue(named: name) { result.append($0) }
        return result
    }

    /// Calls `body` with every value of the fields named `name`, in order, without allocating.
    public func forEachValue(named name: some StringProtocol, _ body: (ByteBufferView) throws -> Void) rethrows {
        let known = KnownFieldName.of(name)
        if known != .other {
            guard has(known) else { return }
            for slot in slots where slot.known == known {
                try body(view(slot.value))
            }
            return
        }
        for slot in slots where nameOf(slot, is: name) {
            try body(view(slot.value))
        }
    }

    /// The first value of the field named `name`, decoded (lossily) as UTF-8.
    public func first(named name: some StringProtocol) -> String? {
        let known = KnownFieldName.of(name)
        for slot in slots where known != .other ? slot.known == known : nameOf(slot, is: name) {
            return String(decoding: view(slot.value), as: UTF8.self)
        }
        return nil
    }

    /// How many field lines carry `name`.
    public func count(named name: some StringProtocol) -> Int {
        let known = KnownFieldName.of(name)
        if known != .other { return has(known) ? slots.reduce(0) { $0 + ($1.known == known ? 1 : 0) } : 0 }
        return slots.reduce(0) { $0 + (nameOf($1, is: name) ? 1 : 0) }
    }

    /// Whether the name of field `position` is `name`, ASCII case-insensitively.
    public func name(at position: Int, is name: some StringProtocol) -> Bool {
        nameOf(slots[position], is: name)
    }

    /// The value of field `position`, as a view onto the received octets.
    public func value(at position: Int) -> ByteBufferView {
        view(slots[position].value)
    }

    /// Whether `slot`'s name is `name`, ASCII case-insensitively, read in place. Every lookup asks this
    /// of every field of every head: a name of another length is refused without touching its octets,
    /// and no view (a reference to count) is made for the others.
    @inline(__always)
    func nameOf(_ slot: Slot, is name: some StringProtocol) -> Bool {
        nameOf(slot, matches: name.utf8)
    }

    /// Whether `slot`'s name equals `other` (a view, e.g. a name a Connection field lists), ASCII
    /// case-insensitively, read in place.
    func nameOf(_ slot: Slot, equals other: ByteBufferView) -> Bool {
        nameOf(slot, matches: other)
    }

    @inline(__always)
    private func nameOf(_ slot: Slot, matches wanted: some Collection<UInt8>) -> Bool {
        guard slot.name.count == wanted.count else { return false }
        return storage.withUnsafeReadableBytes { raw in
            var index = slot.name.lowerBound
            for byte in wanted {
                guard HTTPSyntax.lowercased(raw[index]) == HTTPSyntax.lowercased(byte) else { return false }
                index += 1
            }
            return true
        }
    }

    public func contains(named name: some StringProtocol) -> Bool {
        let known = KnownFieldName.of(name)
        if known != .other { return has(known) }
        return slots.contains { nameOf($0, is: name) }
    }

    /// Calls `body` with each element of the comma-separated lists in every field named `name`
    /// (RFC 9110 §5.6.1), OWS trimmed; empty elements are passed too, as empty views.
    public func forEachListElement(named name: some StringProtocol, _ body: (ByteBufferView) throws -> Void) rethrows {
        try forEachValue(named: name) { value in
            var start = value.startIndex
            while true {
                let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                try body(Self.trimmed(value[start..<end]))
                guard end < value.endIndex else { break }
                start = value.index(after: end)
            }
        }
    }

    /// Whether `token` is an element of the list in the fields named `name`, compared case-insensitively
    /// (as `Connection: close` or `Connection: Upgrade`).
    public func containsToken(_ token: some StringProtocol, inListNamed name: some StringProtocol) -> Bool {
        var found = false
        forEachListElement(named: name) { element in
            if !found && HTTPSyntax.equalsIgnoringCase(element, token.utf8) { found = true }
        }
        return found
    }

    func view(_ range: Range<Int>) -> ByteBufferView {
        storage.viewBytes(at: storage.readerIndex + range.lowerBound, length: range.count)!
    }

    static func trimmed(_ bytes: ByteBufferView) -> ByteBufferView {
        var lower = bytes.startIndex
        var upper = bytes.endIndex
        while lower < upper, HTTPSyntax.isWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower, HTTPSyntax.isWhitespace(bytes[upper - 1]) { upper -= 1 }
        return bytes[lower..<upper]
    }
}
