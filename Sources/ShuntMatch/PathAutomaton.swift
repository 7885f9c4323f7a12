/// A compiled path regex: a Thompson NFA whose epsilon moves are precomputed, so that a match is a
/// bit-parallel simulation over the octets of the path, in time linear in the path's length and
/// with no backtracking (the RE2 guarantee: no pattern can make the agent spin).
///
/// States are the program's consuming instructions. For each one the automaton keeps the octets it
/// accepts, the set of states that follow it (its successor's epsilon closure, as a bitset of
/// `wordCount` words) and whether the path may end after it. A match keeps only two bitsets: on the
/// stack, through `withUnsafeTemporaryAllocation` (at most 1 KiB, see `MatchLimits`), or in two
/// registers when the program has at most 64 states, so a match never allocates and an automaton
/// shared between threads is never written to.
struct PathAutomaton: Sendable {
    /// Consuming states.
    let stateCount: Int
    /// Words of one state bitset.
    let wordCount: Int
    /// Instructions of the program the states came from (what `maxRegexProgramSize` bounds).
    let programSize: Int
    /// The octets each state accepts.
    let stateBytes: [ByteSet]
    /// For each octet, the states that accept it: 256 rows of `wordCount` words.
    let byteMasks: [UInt64]
    /// For each state, the states that follow it: `stateCount` rows of `wordCount` words.
    let follow: [UInt64]
    /// The states after which the path may end.
    let acceptsAtEnd: [UInt64]
    /// The states ready for the first octet.
    let initial: [UInt64]
    /// Whether the empty path matches.
    let acceptsEmpty: Bool

    init(_ node: RegexNode) {
        let program = PathProgram(node)
        let consumers = program.instructions.indices.filter {
            if case .consume = program.instructions[$0] { true } else { false }
        }
        var stateOf = [Int](repeating: -1, count: program.instructions.count)
        for (state, pc) in consumers.enumerated() { stateOf[pc] = state }
        let words = max(1, (consumers.count + 63) / 64)

        stateCount = consumers.count
        wordCount = words
        programSize = program.instructions.count
        stateBytes = consumers.map {
            guard case .consume(let set) = program.instructions[$0] else { preconditionFailure() }
            return set
        }
        var masks = [UInt64](repeating: 0, count: 256 * words)
        for (state, set) in stateBytes.enumerated() {
            for byte in 0...255 where set.contains(UInt8(byte)) {
                masks[byte * words + state / 64] |= 1 << UInt64(state % 64)
            }
        }
        byteMasks = masks

        var followRows = [UInt64](repeating: 0, count: consumers.count * words)
        var endRow = [UInt64](repeating: 0, count: words)
        for (state, pc) in consumers.enumerated() {
            let next = program.closure(from: pc + 1, atStart: false, atEnd: false, stateOf: stateOf, words: words)
            for word in 0..<words { followRows[state * words + word] = next.states[word] }
            if program.closure(from: pc + 1, atStart: false, atEnd: true, stateOf: stateOf, words: words).matches {
                endRow[state / 64] |= 1 << UInt64(state % 64)
            }
        }
        follow = followRows
        acceptsAtEnd = endRow
        initial = program.closure(from: 0, atStart: true, atEnd: false, stateOf: stateOf, words: words).states
        acceptsEmpty = program.closure(from: 0, atStart: true, atEnd: true, stateOf: stateOf, words: words).matches
    }

    /// Whether the whole of `input` is in the language.
    func matches(_ input: UnsafeRawBufferPointer) -> Bool {
        guard !input.isEmpty else { return acceptsEmpty }
        if wordCount == 1 { return matchesInOneWord(input) }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * wordCount) { scratch in
            matches(input, scratch: scratch)
        }
    }

    private func matchesInOneWord(_ input: UnsafeRawBufferPointer) -> Bool {
        byteMasks.withUnsafeBufferPointer { masks in
            follow.withUnsafeBufferPointer { follow in
                var current = initial[0]
                let last = input.count - 1
                for position in 0..<last {
                    var stepping = current & masks[Int(input[position])]
                    if stepping == 0 { return false }
                    var next: UInt64 = 0
                    while stepping != 0 {
                        next |= follow[stepping.trailingZeroBitCount]
                        stepping &= stepping &- 1
                    }
                    current = next
                }
                return current & masks[Int(input[last])] & acceptsAtEnd[0] != 0
            }
        }
    }

    private func matches(_ input: UnsafeRawBufferPointer, scratch: UnsafeMutableBufferPointer<UInt64>) -> Bool {
        let words = wordCount
        let current = UnsafeMutableBufferPointer(rebasing: scratch[0..<words])
        let next = UnsafeMutableBufferPointer(rebasing: scratch[words..<(2 * words)])
        return byteMasks.withUnsafeBufferPointer { masks in
            follow.withUnsafeBufferPointer { follow in
                for word in 0..<words { current[word] = initial[word] }
                let last = input.count - 1
                for position in 0..<last {
                    let row = Int(input[position]) * words
                    var any: UInt64 = 0
                    for word in 0..<words { next[word] = 0 }
                    for word in 0..<words {
                        var stepping = current[word] & masks[row + word]
                        any |= stepping
                        while stepping != 0 {
                            let state = word * 64 + stepping.trailingZeroBitCount
                            for target in 0..<words { next[target] |= follow[state * words + target] }
                            stepping &= stepping &- 1
                        }
                    }
                    if any == 0 { return false }
                    for word in 0..<words { current[word] = next[word] }
                }
                let row = Int(input[last]) * words
                for word in 0..<words where current[word] & masks[row + word] & acceptsAtEnd[word] != 0 {
                    return true
                }
                return false
            }
        }
    }

    /// Whether some path is in both languages. Explores the product of the two automata, which is
    /// exact; past `budget` steps it gives up and answers `true`, the conservative answer for a
    /// conflict check.
    func intersects(_ other: PathAutomaton, budget: Int = 2_000_000) -> Bool {
        if acceptsEmpty && other.acceptsEmpty { return true }
        let columns = other.stateCount
        var visited = [UInt64](repeating: 0, count: (stateCount * columns + 63) / 64)
        var queue: [(Int, Int)] = []
        var steps = 0
        func push(_ row: [UInt64], _ rowOffset: Int, _ otherRow: [UInt64], _ otherOffset: Int) -> Bool {
            for a in Self.members(row, offset: rowOffset, words: wordCount) {
                for b in Self.members(otherRow, offset: otherOffset, words: other.wordCount) {
                    steps += 1
                    if steps > budget { return false }
                    let key = a * columns + b
                    if visited[key / 64] & (1 << UInt64(key % 64)) != 0 { continue }
                    visited[key / 64] |= 1 << UInt64(key % 64)
                    queue.append((a, b))
                }
            }
            return true
        }
        guard push(initial, 0, other.initial, 0) else { return true }
        var head = 0
        while head < queue.count {
            let (a, b) = queue[head]
            head += 1
            guard stateBytes[a].intersects(other.stateBytes[b]) else { continue }
            if Self.isMember(acceptsAtEnd, a) && Self.isMember(other.acceptsAtEnd, b) { return true }
            guard push(follow, a * wordCount, other.follow, b * other.wordCount) else { return true }
        }
        return false
    }

    private static func isMember(_ bits: [UInt64], _ state: Int) -> Bool {
        bits[state / 64] & (1 << UInt64(state % 64)) != 0
    }

    private static func members(_ bits: [UInt64], offset: Int, words: Int) -> [Int] {
        var result: [Int] = []
        for word in 0..<words {
            var value = bits[offset + word]
            while value != 0 {
                result.append(word * 64 + value.trailingZeroBitCount)
                value &= value &- 1
            }
        }
        return result
    }
}
