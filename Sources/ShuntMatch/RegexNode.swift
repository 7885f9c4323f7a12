/// The parsed form of a path regex, before it is compiled to a program.
indirect enum RegexNode: Hashable, Sendable {
    case empty
    case bytes(ByteSet)
    case concatenation([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?)
    /// `^`: holds only before the first octet of the path.
    case startAnchor
    /// `$`: holds only after the last octet of the path.
    case endAnchor

    /// Instructions this node compiles to (see `PathProgram`), saturating just above `cap` so that
    /// nested repeats cannot overflow.
    func programSize(cap: Int) -> Int {
        func clamp(_ value: Int) -> Int { min(value, cap + 1) }
        func times(_ a: Int, _ b: Int) -> Int {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? cap + 1 : clamp(product)
        }
        switch self {
        case .empty: return 0
        case .bytes, .startAnchor, .endAnchor: return 1
        case .concatenation(let nodes):
            return nodes.reduce(0) { clamp($0 + $1.programSize(cap: cap)) }
        case .alternation(let nodes):
            return clamp(nodes.reduce(0) { clamp($0 + $1.programSize(cap: cap)) } + 2 * (nodes.count - 1))
        case .repetition(let node, let min, let max):
            let size = node.programSize(cap: cap)
            let required = times(min, size)
            guard let max else { return clamp(required + (min == 0 ? size + 2 : 1)) }
            return clamp(required + times(max - min, size + 1))
        }
    }

    /// A literal string.
    static func literal(_ bytes: some Sequence<UInt8>) -> RegexNode {
        .concatenation(bytes.map { .bytes(ByteSet($0)) })
    }
}
