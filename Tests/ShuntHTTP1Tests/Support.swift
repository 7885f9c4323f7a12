import NIOCore
import ShuntHTTP1
import ShuntOracles

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Parses one request head fed whole; fails the test if it is incomplete.
func parseHead(_ text: String, limits: HTTP1Limits = HTTP1Limits()) throws(HTTP1ParseError) -> RequestHead? {
    var parser = RequestHeadParser(limits: limits)
    var input = ByteBuffer(string: text)
    return try parser.parse(&input)
}

/// The error a request stream ends in, whole; nil when it parses.
func requestError(_ input: [UInt8], limits: HTTP1Limits = HTTP1Limits()) -> (code: String, offset: Int)? {
    if case .error(let code, let offset)? = HTTP1Invariants.requests(input, limits: limits).steps.last {
        return (code, offset)
    }
    return nil
}

func responseSteps(_ text: String, methods: [HTTPMethod], pieces: [Int] = []) -> [HTTP1Invariants.Step] {
    HTTP1Invariants.responses(bytes(text), methods: methods, pieces: pieces).steps
}

/// splitmix64: deterministic pseudo-random numbers from a property-test seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds valid requests (and their bodies) from a seed: methods, targets, field lines with odd but
/// legal whitespace, Content-Length and chunked bodies with extensions and trailers, leading empty lines.
enum RandomRequests {
    static func stream(seed: UInt64, count: Int) -> [UInt8] {
        var random = SplitMix(state: seed)
        var out: [UInt8] = []
        for index in 0..<count {
            out += request(&random, leadingEmptyLine: index > 0 && Bool.random(using: &random))
        }
        return out
    }

    static func request(_ random: inout SplitMix, leadingEmptyLine: Bool) -> [UInt8] {
        let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "X-CUSTOM"].randomElement(using: &random)!
        let targets = ["/", "/orders/42", "/a/b?c=d&e=%2F", "/~user;p=1/x:y@z?q", "http://svc.local/p?x", "/%41%42"]
        var target = targets.randomElement(using: &random)!
        if method == "OPTIONS" && Bool.random(using: &random) { target = "*" }
        let version = Int.random(in: 0..<5, using: &random) == 0 ? "HTTP/1.0" : "HTTP/1.1"
        var head = (leadingEmptyLine ? "\r\n" : "") + "\(method) \(target) \(version)\r\n"
        var fields: [String] = []
        fields.append(target.hasPrefix("http://") ? "Host: svc.local" : "Host: svc.local:8080")
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            let name = ["X-User", "accept", "X-Trace-Id", "Cookie", "x-forwarded-for", "Via", "Expect"].randomElement(using: &random)!
            let value = ["alice", "  padded\t", "a, b,c", "é-obs-text", "", "\t", "100-continue", "q=\"x y\""].randomElement(using: &random)!
            fields.append("\(name):\(value)")
        }
        if Bool.random(using: &random) { fields.append("Connection: \(["close", "keep-alive", "Upgrade"].randomElement(using: &random)!)") }
        var body: [UInt8] = []
        switch Int.random(in: 0..<3, using: &random) {
        case 1:
            let length = Int.random(in: 0...40, using: &random)
            fields.append("Content-Length: \(length)")
            body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 2 where version == "HTTP/1.1":
            fields.append("Transfer-Encoding: \(["chunked", "Chunked", " chunked\t"].randomElement(using: &random)!)")
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                let size = Int.random(in: 1...20, using: &random)
                let ext = [";a", "; a=b", " ;x=\"q \\\" s\"", ";n"].randomElement(using: &random)!
                body += bytes(String(size, radix: 16, uppercase: Bool.random(using: &random)))
                if Bool.random(using: &random) { body += bytes(ext) }
                body += bytes("\r\n")
                body += (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
                body += bytes("\r\n")
            }
            body += bytes("0\r\n")
            if Bool.random(using: &random) { body += bytes("X-Checksum: abc\r\nX-Other:\t1 \r\n") }
            body += bytes("\r\n")
        default:
            break
        }
        fields.shuffle(using: &random)
        head += fields.map { $0 + "\r\n" }.joined() + "\r\n"
        return bytes(head) + body
    }
}
