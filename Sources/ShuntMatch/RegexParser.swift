/// Parses the regex subset of `docs/INTERCEPT-RULES.md` into a `RegexNode`, refusing anything
/// outside it at the position where it starts.
struct RegexParser {
    private let pattern: String
    private let bytes: [UInt8]
    private let limits: MatchLimits
    private var index = 0
    private var depth = 0

    private init(pattern: String, limits: MatchLimits) {
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
        self.limits = limits
    }

    static func parse(_ pattern: String, limits: MatchLimits) throws(RegexSyntaxError) -> RegexNode {
        var parser = RegexParser(pattern: pattern, limits: limits)
        return try parser.parseWhole()
    }

    private func error(_ kind: RegexSyntaxError.Kind, at index: Int, _ message: String) -> RegexSyntaxError {
        RegexSyntaxError(kind, pattern: pattern, column: index + 1, message)
    }

    private var atEnd: Bool { index == bytes.count }
    private var current: UInt8? { atEnd ? nil : bytes[index] }
    private func peek(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

    private mutating func parseWhole() throws(RegexSyntaxError) -> RegexNode {
        guard !bytes.isEmpty else { throw error(.empty, at: 0, "the regex is empty; to match every path, leave out --http-path-regex") }
        guard bytes.count <= limits.maxRegexLength else {
            throw error(.tooLong, at: limits.maxRegexLength, "the regex is \(bytes.count) octets long, more than the limit of \(limits.maxRegexLength)")
        }
        for (position, byte) in bytes.enumerated() {
            if byte >= 0x80 {
                throw error(.nonASCII, at: position, "non-ASCII character: paths are matched as sent, percent-encoded; write its %XX form instead")
            }
            if byte < 0x20 || byte == 0x7F {
                throw error(.controlCharacter, at: position, "control character 0x\(String(byte, radix: 16)) cannot appear in a path; use \\t, \\n or \\r")
            }
        }
        let node = try parseAlternation()
        if let byte = current {
            // Only a `)` stops an alternation before the end.
            precondition(byte == UInt8(ascii: ")"))
            throw error(.unmatchedCloseParen, at: index, "unmatched ), expected a literal, (, [, | or the end of the regex")
        }
        let size = node.programSize(cap: limits.maxRegexProgramSize) + 1
        if size > limits.maxRegexProgramSize {
            throw error(.programTooLarge, at: bytes.count, "the regex expands to more than \(limits.maxRegexProgramSize) instructions (maxRegexProgramSize); use fewer or smaller {m,n} repeats")
        }
        return node
    }

    private mutating func parseAlternation() throws(RegexSyntaxError) -> RegexNode {
        var branches = [try parseConcatenation()]
        while current == UInt8(ascii: "|") {
            index += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcatenation() throws(RegexSyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while let byte = current, byte != UInt8(ascii: "|"), byte != UInt8(ascii: ")") {
            items.append(try parseRepetition())
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concatenation(items)
        }
    }

    private mutating func parseRepetition() throws(RegexSyntaxError) -> RegexNode {
        let atomStart = index
        var node = try parseAtom()
        var quantified = false
        while let byte = current {
            let quantifierStart = index
            let bounds: (min: Int, max: Int?)
            switch byte {
            case UInt8(ascii: "*"): bounds = (0, nil); index += 1
            case UInt8(ascii: "+"): bounds = (1, nil); index += 1
            case UInt8(ascii: "?"): bounds = (0, 1); index += 1
            case UInt8(ascii: "{"): bounds = try parseBraces()
            default: return node
            }
            if quantified {
                let what = byte == UInt8(ascii: "+") ? "possessive quantifiers are not supported" : "a quantifier cannot follow another quantifier"
                throw error(byte == UInt8(ascii: "+") ? .notSupported : .nothingToRepeat, at: quantifierStart, "\(what); put the repeated part in ( ) first")
            }
            if bytes[atomStart] == UInt8(ascii: "^") || bytes[atomStart] == UInt8(ascii: "$") {
                throw error(.nothingToRepeat, at: quantifierStart, "an anchor cannot be repeated")
            }
            // A lazy `?` after a quantifier changes nothing for a whole-path yes/no match.
            if current == UInt8(ascii: "?") { index += 1 }
            quantified = true
            node = .repetition(node, min: bounds.min, max: bounds.max)
            if node.programSize(cap: limits.maxRegexProgramSize) + 1 > limits.maxRegexProgramSize {
                throw error(.programTooLarge, at: quantifierStart, "repeating \(String(decoding: bytes[atomStart..<quantifierStart], as: UTF8.self)) here expands the regex to more than \(limits.maxRegexProgramSize) instructions (maxRegexProgramSize)")
            }
        }
        return node
    }

    /// `{m}`, `{m,}` or `{m,n}`; `index` is at the `{`.
    private mutating func parseBraces() throws(RegexSyntaxError) -> (min: Int, max: Int?) {
        let open = index
        index += 1
        guard let min = parseNumber() else {
            throw error(.badRepeat, at: index, "expected a number after { (a literal { is written \\{)")
        }
        var max: Int? = min
        if current == UInt8(ascii: ",") {
            index += 1
            if current == UInt8(ascii: "}") {
                max = nil
            } else if let number = parseNumber() {
                max = number
            } else {
                throw error(.badRepeat, at: index, "expected a number or } after , in {m,n}")
            }
        }
        guard current == UInt8(ascii: "}") else {
            throw error(.badRepeat, at: index, max == min ? "expected , or } in {m,n}" : "expected } to close {m,n}")
        }
        index += 1
        for count in [min, max ?? 0] where count > limits.maxRegexRepeatCount {
            throw error(.repeatTooLarge, at: open, "repeat count \(count) is above the limit of \(limits.maxRegexRepeatCount)")
        }
        if let max, max < min {
            throw error(.badRepeat, at: open, "repeat {\(min),\(max)} has its minimum above its maximum")
        }
        return (min, max)
    }

    /// Decimal digits, saturating so that a huge number is reported as too large, not wrapped.
    private mutating func parseNumber() -> Int? {
        var value: Int?
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            value = Swift.min((value ?? 0) * 10 + Int(byte - UInt8(ascii: "0")), 1_000_000_000)
            index += 1
        }
        return value
    }

    private mutating func parseAtom() throws(RegexSyntaxError) -> RegexNode {
        let start = index
        let byte = bytes[index]
        switch byte {
        case UInt8(ascii: "("):
            return try parseGroup()
        case UInt8(ascii: "["):
            return .bytes(try parseClass())
        case UInt8(ascii: "."):
            index += 1
            return .bytes(.all)
        case UInt8(ascii: "^"):
            index += 1
            return .startAnchor
        case UInt8(ascii: "$"):
            index += 1
            return .endAnchor
        case UInt8(ascii: "\\"):
            return .bytes(try parseEscape(inClass: false))
        case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
            throw error(.nothingToRepeat, at: start, "nothing to repeat before \(Character(Unicode.Scalar(byte))); a literal is written \\\(Character(Unicode.Scalar(byte)))")
        case UInt8(ascii: "{"):
            throw error(.nothingToRepeat, at: start, "nothing to repeat before {; a literal { is written \\{")
        default:
            index += 1
            return .bytes(ByteSet(byte))
        }
    }

    private mutating func parseGroup() throws(RegexSyntaxError) -> RegexNode {
        let open = index
        index += 1
        if current == UInt8(ascii: "?") {
            switch (peek(1), peek(2)) {
            case (UInt8(ascii: ":"), _):
                index += 2
            case (UInt8(ascii: "="), _), (UInt8(ascii: "!"), _):
                throw error(.notSupported, at: open, "lookahead (?\(Character(Unicode.Scalar(peek(1)!))) is not supported: the engine runs in linear time and has no lookaround")
            case (UInt8(ascii: "<"), UInt8(ascii: "=")), (UInt8(ascii: "<"), UInt8(ascii: "!")):
                throw error(.notSupported, at: open, "lookbehind (?<\(Character(Unicode.Scalar(peek(2)!))) is not supported: the engine runs in linear time and has no lookaround")
            case (UInt8(ascii: "<"), _), (UInt8(ascii: "P"), _):
                throw error(.notSupported, at: open, "named groups are not supported; use ( ) or (?: )")
            default:
                throw error(.notSupported, at: open, "group flags (?…) are not supported; only ( ) and (?: ) are")
            }
        }
        depth += 1
        guard depth <= limits.maxRegexNesting else {
            throw error(.nestingTooDeep, at: open, "groups nest deeper than \(limits.maxRegexNesting) here")
        }
        let inner = try parseAlternation()
        guard current == UInt8(ascii: ")") else {
            throw error(.missingCloseParen, at: index, "missing ) to close the group opened at column \(open + 1)")
        }
        index += 1
        depth -= 1
        return inner
    }

    /// A class `[...]` or `[^...]`; `index` is at the `[`.
    private mutating func parseClass() throws(RegexSyntaxError) -> ByteSet {
        let open = index
        index += 1
        let negated = current == UInt8(ascii: "^")
        if negated { index += 1 }
        var set = ByteSet.empty
        var first = true
        while true {
            guard let byte = current else {
                throw error(.missingCloseBracket, at: index, "missing ] to close the class opened at column \(open + 1)")
            }
            if byte == UInt8(ascii: "]") {
                if first { throw error(.emptyClass, at: index, "empty class; a literal ] is written \\]") }
                index += 1
                break
            }
            if byte == UInt8(ascii: "[") {
                throw error(.notSupported, at: index, "nested classes and [: :] are not supported; a literal [ is written \\[")
            }
            first = false
            let itemStart = index
            let low: UInt8?
            if byte == UInt8(ascii: "\\") {
                let escaped = try parseEscape(inClass: true)
                low = escaped.singleByte
                if low == nil {
                    set.formUnion(escaped)
                    if current == UInt8(ascii: "-"), let next = peek(1), next != UInt8(ascii: "]") {
                        throw error(.badRange, at: itemStart, "a class escape cannot start a range; a literal - is written \\-")
                    }
                    continue
                }
            } else {
                index += 1
                low = byte
            }
            guard let low else { continue }
            if current == UInt8(ascii: "-"), let next = peek(1), next != UInt8(ascii: "]") {
                index += 1
                let highStart = index
                let high: UInt8
                if next == UInt8(ascii: "\\") {
                    guard let single = try parseEscape(inClass: true).singleByte else {
                        throw error(.badRange, at: highStart, "a class escape cannot end a range")
                    }
                    high = single
                } else if next == UInt8(ascii: "[") {
                    throw error(.notSupported, at: highStart, "a literal [ is written \\[")
                } else {
                    high = next
                    index += 1
                }
                guard low <= high else {
                    throw error(.badRange, at: itemStart, "range \(Character(Unicode.Scalar(low)))-\(Character(Unicode.Scalar(high))) is reversed")
                }
                set.formUnion(ByteSet(low...high))
            } else {
                set.insert(low)
            }
        }
        return negated ? set.inverted : set
    }

    /// `\d \D \w \W \s \S \t \n \r`, or `\` before ASCII punctuation; `index` is at the `\`.
    private mutating func parseEscape(inClass: Bool) throws(RegexSyntaxError) -> ByteSet {
        let start = index
        guard let byte = peek(1) else {
            throw error(.badEscape, at: start, "\\ at the end of the regex; a literal \\ is written \\\\")
        }
        index += 2
        let character = Character(Unicode.Scalar(byte))
        switch character {
        case "d": return .digits
        case "D": return ByteSet.digits.inverted
        case "w": return .word
        case "W": return ByteSet.word.inverted
        case "s": return .space
        case "S": return ByteSet.space.inverted
        case "t": return ByteSet(0x09)
        case "n": return ByteSet(0x0A)
        case "r": return ByteSet(0x0D)
        case "1"..."9", "k", "g":
            throw error(.notSupported, at: start, "backreferences (\\\(character)) are not supported: the engine runs in linear time")
        case "b", "B", "A", "z", "Z", "G":
            throw error(.notSupported, at: start, "the assertion \\\(character) is not supported; the regex always matches the whole path")
        case "p", "P":
            throw error(.notSupported, at: start, "Unicode properties (\\\(character)) are not supported; paths are matched as ASCII octets")
        default:
            if character.isLetter || character.isNumber {
                throw error(.badEscape, at: start, "unknown escape \\\(character); expected \\d \\D \\w \\W \\s \\S \\t \\n \\r or \\ before punctuation")
            }
            return ByteSet(byte)
        }
    }
}

extension ByteSet {
    /// The octet, when the set holds exactly one.
    var singleByte: UInt8? {
        var found: UInt8?
        for byte in UInt8.min...UInt8.max where contains(byte) {
            if found != nil { return nil }
            found = byte
        }
        return found
    }
}
