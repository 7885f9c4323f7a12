/// A regex compiled to Thompson-NFA instructions (as in Russ Cox's "Regular Expression Matching
/// Can Be Simple And Fast"); `PathAutomaton` precomputes its epsilon moves.
struct PathProgram {
    enum Instruction {
        case consume(ByteSet)
        case split(Int, Int)
        case jump(Int)
        case assertStart
        case assertEnd
        case match
    }

    private(set) var instructions: [Instruction] = []

    init(_ node: RegexNode) {
        emit(node)
        instructions.append(.match)
    }

    private mutating func emit(_ node: RegexNode) {
        switch node {
        case .empty:
            break
        case .bytes(let set):
            instructions.append(.consume(set))
        case .startAnchor:
            instructions.append(.assertStart)
        case .endAnchor:
            instructions.append(.assertEnd)
        case .concatenation(let nodes):
            for node in nodes { emit(node) }
        case .alternation(let nodes):
            // split L1, next; L1: a; jump end; next: split L2, ... ; last branch falls through.
            var jumps: [Int] = []
            for (position, branch) in nodes.enumerated() {
                if position == nodes.count - 1 {
                    emit(branch)
                } else {
                    let split = instructions.count
                    instructions.append(.split(split + 1, -1))
                    emit(branch)
                    jumps.append(instructions.count)
                    instructions.append(.jump(-1))
                    instructions[split] = .split(split + 1, instructions.count)
                }
            }
            for jump in jumps { instructions[jump] = .jump(instructions.count) }
        case .repetition(let node, let min, let max):
            if let max {
                for _ in 0..<min { emit(node) }
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(instructions.count)
                    instructions.append(.split(instructions.count + 1, -1))
                    emit(node)
                }
                for split in splits { instructions[split] = .split(split + 1, instructions.count) }
            } else if min == 0 {
                let split = instructions.count
                instructions.append(.split(split + 1, -1))
                emit(node)
                instructions.append(.jump(split))
                instructions[split] = .split(split + 1, instructions.count)
            } else {
                for _ in 0..<(min - 1) { emit(node) }
                let start = instructions.count
                emit(node)
                instructions.append(.split(start, instructions.count + 1))
            }
        }
    }

    /// The consuming states reachable from `pc` through epsilon moves, and whether `match` is.
    /// `^` passes only `atStart`, `$` only `atEnd`.
    func closure(from pc: Int, atStart: Bool, atEnd: Bool, stateOf: [Int], words: Int) -> (states: [UInt64], matches: Bool) {
        var states = [UInt64](repeating: 0, count: words)
        var matches = false
        var seen = [Bool](repeating: false, count: instructions.count)
        var stack = [pc]
        while let pc = stack.popLast() {
            guard !seen[pc] else { continue }
            seen[pc] = true
            switch instructions[pc] {
            case .consume:
                let state = stateOf[pc]
                states[state / 64] |= 1 << UInt64(state % 64)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .jump(let target):
                stack.append(target)
            case .assertStart:
                if atStart { stack.append(pc + 1) }
            case .assertEnd:
                if atEnd { stack.append(pc + 1) }
            case .match:
                matches = true
            }
        }
        return (states, matches)
    }
}
