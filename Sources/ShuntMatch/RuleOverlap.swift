/// Whether two rules could both match one request: the "could steal" of the conflict check.
///
/// For this check a request is taken to carry each header once (a request sending a header twice
/// with two values could match two rules; routing order then decides, see `InterceptTable`). So:
/// - headers: two header sets can both hold unless they name the same header with different values
///   (the common case: two `auto` headers, `x-shunt-intercept: A` and `...: B`, never overlap);
/// - paths: no path condition overlaps everything; otherwise the overlap of the two path languages
///   is decided exactly (equal and prefix by comparison, a regex by exploring the product of the two
///   automata), and a product too large to explore counts as an overlap.
///
/// A global rule overlaps every rule.
enum RuleOverlap {
    static func mayOverlap(_ a: InterceptRule, _ b: InterceptRule) -> Bool {
        if a.isGlobal || b.isGlobal { return true }
        return headersCompatible(a.spec.headers, b.spec.headers) && pathsOverlap(a.path, b.path)
    }

    /// No header named in both with different values (both lists are sorted by name).
    static func headersCompatible(_ a: [HeaderCondition], _ b: [HeaderCondition]) -> Bool {
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if a[i].name < b[j].name {
                i += 1
            } else if a[i].name > b[j].name {
                j += 1
            } else {
                if a[i].value != b[j].value { return false }
                i += 1
                j += 1
            }
        }
        return true
    }

    static func pathsOverlap(_ a: InterceptRule.CompiledPath, _ b: InterceptRule.CompiledPath) -> Bool {
        switch (a, b) {
        case (.any, _), (_, .any):
            return true
        case (.equal(let x), .equal(let y)):
            return x == y
        case (.equal(let literal), let other), (let other, .equal(let literal)):
            return literal.withUnsafeBytes { matches(other, $0) }
        case (.prefix(let p, let pSlash), .prefix(let q, let qSlash)):
            // L(p) = {p} ∪ {paths starting with p/} (p/ is p itself when p ends with /).
            let pp = pSlash ? p : p + [UInt8(ascii: "/")]
            let qq = qSlash ? q : q + [UInt8(ascii: "/")]
            return p.withUnsafeBytes { matches(b, $0) } || q.withUnsafeBytes { matches(a, $0) }
                || pp.starts(with: qq) || qq.starts(with: pp)
        case (.prefix(let prefix, let slash), .regex(let regex)), (.regex(let regex), .prefix(let prefix, let slash)):
            return regex.intersects(prefixLanguage(prefix, endsWithSlash: slash))
        case (.regex(let x), .regex(let y)):
            return x.intersects(y)
        }
    }

    private static func matches(_ path: InterceptRule.CompiledPath, _ candidate: UnsafeRawBufferPointer) -> Bool {
        switch path {
        case .any: return true
        case .equal(let literal): return literal.elementsEqual(candidate)
        case .prefix(let prefix, let slash):
            return candidate.starts(with: prefix) && (slash || candidate.count == prefix.count || candidate[prefix.count] == UInt8(ascii: "/"))
        case .regex(let regex): return regex.matches(candidate)
        }
    }

    /// The prefix's language as an automaton: `p(/.*)?`, or `p.*` when p ends with `/`.
    private static func prefixLanguage(_ prefix: [UInt8], endsWithSlash: Bool) -> PathRegex {
        let anything = RegexNode.repetition(.bytes(.all), min: 0, max: nil)
        let rest: RegexNode = endsWithSlash ? anything : .repetition(.concatenation([.bytes(ByteSet(UInt8(ascii: "/"))), anything]), min: 0, max: 1)
        return PathRegex(node: .concatenation([.literal(prefix), rest]), pattern: String(decoding: prefix, as: UTF8.self))
    }
}

extension RuleSpec {
    /// Whether some request could match both rules (see `RuleOverlap` for the exact definition).
    public func mayOverlap(with other: RuleSpec) -> Bool {
        guard let a = try? InterceptRule(owner: "a", name: "a", spec: self),
            let b = try? InterceptRule(owner: "b", name: "b", spec: other)
        else { return true }
        return RuleOverlap.mayOverlap(a, b)
    }
}
