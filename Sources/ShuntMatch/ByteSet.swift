/// A set of octets: what one regex step (a literal, `.`, a class or a class escape) accepts.
struct ByteSet: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    static let empty = ByteSet(words: (0, 0, 0, 0))
    static let all = ByteSet(words: (~0, ~0, ~0, ~0))

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    init(_ byte: UInt8) {
        self = .empty
        insert(byte)
    }

    init(_ range: ClosedRange<UInt8>) {
        self = .empty
        for byte in range { insert(byte) }
    }

    static let digits = ByteSet(UInt8(ascii: "0")...UInt8(ascii: "9"))
    static let word: ByteSet = {
        var set = ByteSet(UInt8(ascii: "a")...UInt8(ascii: "z"))
        set.formUnion(ByteSet(UInt8(ascii: "A")...UInt8(ascii: "Z")))
        set.formUnion(digits)
        set.insert(UInt8(ascii: "_"))
        return set
    }()
    /// ASCII white space: SP, HTAB, LF, VT, FF, CR.
    static let space: ByteSet = {
        var set = ByteSet(0x09...0x0D)
        set.insert(0x20)
        return set
    }()

    func contains(_ byte: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ byte: UInt8) {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    mutating func formUnion(_ other: ByteSet) {
        words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
    }

    var inverted: ByteSet { ByteSet(words: (~words.0, ~words.1, ~words.2, ~words.3)) }

    func intersects(_ other: ByteSet) -> Bool {
        (words.0 & other.words.0) | (words.1 & other.words.1) | (words.2 & other.words.2) | (words.3 & other.words.3) != 0
    }

    static func == (lhs: ByteSet, rhs: ByteSet) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
