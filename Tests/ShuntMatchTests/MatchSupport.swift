import ShuntMatch

extension RequestHead {
    /// A request head from a target and header lines, laid out in one buffer as the edge would.
    static func make(_ target: String, _ headers: [(String, String)] = []) -> RequestHead {
        var bytes = Array("GET ".utf8)
        let targetStart = bytes.count
        bytes += Array(target.utf8)
        let targetRange = targetStart..<bytes.count
        bytes += Array(" HTTP/1.1\r\n".utf8)
        var fields: [Field] = []
        for (name, value) in headers {
            let nameStart = bytes.count
            bytes += Array(name.utf8)
            let nameRange = nameStart..<bytes.count
            bytes += Array(": ".utf8)
            let valueStart = bytes.count
            bytes += Array(value.utf8)
            fields.append(Field(name: nameRange, value: valueStart..<bytes.count))
            bytes += Array("\r\n".utf8)
        }
        return RequestHead(bytes: bytes + Array("\r\n".utf8), target: targetRange, fields: fields)
    }

    var pathString: String { withPath { String(decoding: $0, as: UTF8.self) } }
}

/// A seeded generator (SplitMix64), so that generated cases are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func personal(_ headers: [String], _ path: PathCondition? = nil) throws -> RuleSpec {
    try RuleSpec(headers: headers.map { try HeaderCondition(flag: $0) }, path: path)
}

func rule(_ owner: String, _ name: String, _ spec: RuleSpec, limits: MatchLimits = .default) throws -> InterceptRule {
    try InterceptRule(owner: owner, name: name, spec: spec, limits: limits)
}
