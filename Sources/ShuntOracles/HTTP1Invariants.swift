import NIOCore
import ShuntHTTP1

/// The properties every byte stream must keep when an HTTP/1.1 edge parses it, whatever its bytes. The
/// libFuzzer target `FuzzHTTP1` checks them on generated input, and the unit tests on valid and refused
/// corpora:
/// 1. parsing whole and in pieces of any size gives the same messages, body octets and error;
/// 2. the octets the edge forwards (head bytes, then every body and framing event) are exactly the input
///    octets, in order, minus skipped leading empty lines;
/// 3. an error points inside the input.
public enum HTTP1Invariants {
    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// One observable thing the parsers reported. Adjacent body (and framing) octets are merged, since
    /// how they are cut depends on the input's pieces.
    public enum Step: Hashable, Sendable, CustomStringConvertible {
        case head(String)
        case body([UInt8])
        case framing([UInt8])
        case end(trailers: [String])
        /// After a 101 or a CONNECT tunnel: raw octets.
        case raw([UInt8])
        case error(code: String, offset: Int)

        public var description: String {
            switch self {
            case .head(let summary): "head(\(summary))"
            case .body(let bytes): "body(\(bytes.count) octets)"
            case .framing(let bytes): "framing(\(String(decoding: bytes, as: UTF8.self).debugDescription))"
            case .end(let trailers): "end(\(trailers))"
            case .raw(let bytes): "raw(\(bytes.count) octets)"
            case .error(let code, let offset): "error(\(code) at \(offset))"
            }
        }
    }

    public struct Outcome: Hashable, Sendable {
        public var steps: [Step] = []
        /// Every octet the edge would forward, in order.
        public var forwarded: [UInt8] = []
        /// Input octets dropped as leading empty lines.
        public var skipped = 0
        /// The forwarded octets with the dropped empty lines put back where they were: must be the input.
        public var reconstructed: [UInt8] = []
        /// Request heads whose forwarded form (`ForwardedHeadWriter`) does not re-parse to the same request.
        public var forwardingViolations: [String] = []

        mutating func forward(_ bytes: ByteBufferView) {
            forwarded += bytes
            reconstructed += bytes
        }

        mutating func add(_ step: Step) {
            switch (steps.last, step) {
            case (.body(let a)?, .body(let b)):
                steps[steps.count - 1] = .body(a + b)
            case (.framing(let a)?, .framing(let b)):
                steps[steps.count - 1] = .framing(a + b)
            case (.raw(let a)?, .raw(let b)):
                steps[steps.count - 1] = .raw(a + b)
            default:
                steps.append(step)
            }
        }
    }

    /// Splits `bytes` into pieces whose sizes cycle through `pieces` (the last piece takes the rest).
    static func split(_ bytes: [UInt8], _ pieces: [Int]) -> [ByteBuffer] {
        var result: [ByteBuffer] = []
        var start = 0
        var index = 0
        while start < bytes.count {
            let size = max(1, pieces.isEmpty ? bytes.count : pieces[index % pieces.count])
            let end = min(bytes.count, start + min(size, bytes.count - start))
            result.append(ByteBuffer(bytes: bytes[start..<end]))
            start = end
            index += 1
        }
        return result
    }

    public static func summary(_ head: RequestHead) -> String {
        let fields = head.headers.map { "\($0.nameString): \($0.valueString)" }
        return "\(head.method) \(String(decoding: head.target, as: UTF8.self)) path=\(String(decoding: head.path, as: UTF8.self)) "
            + "\(head.version) \(head.targetForm) \(head.framing) keepAlive=\(head.keepAlive) continue=\(head.expectsContinue) "
            + "upgrade=\(head.isUpgradeRequest) \(fields)"
    }

    public static func summary(_ head: ResponseHead) -> String {
        let fields = head.headers.map { "\($0.nameString): \($0.valueString)" }
        return "\(head.version) \(head.status) \(String(decoding: head.reason, as: UTF8.self).debugDescription) \(head.framing) "
            + "keepAlive=\(head.keepAlive) \(fields)"
    }

    /// Parses a client's stream of pipelined requests, fed in `pieces`, as the edge would.
    public static func requests(_ bytes: [UInt8], limits: HTTP1Limits = HTTP1Limits(), pieces: [Int] = []) -> Outcome {
        var outcome = Outcome()
        var parser = RequestHeadParser(limits: limits)
        var framer: BodyFramer?
        var pending = ByteBuffer()
        var headOctets = 0
        func record(_ event: BodyFramer.Event) {
            switch event {
            case .body(let data): outcome.add(.body(Array(data.readableBytesView))); outcome.forward(data.readableBytesView)
            case .framing(let data): outcome.add(.framing(Array(data.readableBytesView))); outcome.forward(data.readableBytesView)
            case .end(let trailers): outcome.add(.end(trailers: trailers.map { $0.map { "\($0.nameString): \($0.valueString)" } } ?? []))
            }
        }
        do {
            for var piece in split(bytes, pieces) {
                pending.writeBuffer(&piece)
                while true {
                    if var current = framer {
                        guard let event = try current.next(&pending) else { framer = current; break }
                        record(event)
                        framer = current.isComplete ? nil : current
                    } else {
                        let before = pending.readableBytes
                        let parsed = try parser.parse(&pending)
                        headOctets += before - pending.readableBytes
                        guard let head = parsed else { break }
                        let skipped = headOctets - head.bytes.readableBytes
                        headOctets = 0
                        outcome.skipped += skipped
                        for _ in 0..<(skipped / 2) { outcome.reconstructed += [0x0D, 0x0A] }
                        outcome.add(.head(summary(head)))
                        outcome.forward(head.bytes.readableBytesView)
                        if let violation = forwardingViolation(head) { outcome.forwardingViolations.append(violation) }
                        framer = BodyFramer(framing: head.framing, limits: limits)
                    }
                }
            }
            if var current = framer {
                while let event = try current.inputEnded() { record(event) }
            }
        } catch {
            outcome.add(.error(code: error.code, offset: error.offset))
        }
        return outcome
    }

    /// Limits loose enough for any head the writer makes from a head that passed the defaults.
    static let reparseLimits = HTTP1Limits(
        maxHeadSize: 1 << 30, maxHeaderCount: 1 << 20, maxRequestTargetLength: 1 << 30, maxLeadingEmptyLines: 0)

    /// The forwarded head must parse, as the same request with the same framing, with no hop-by-hop field
    /// left but the framing ones (and Upgrade/Connection for an upgrade), and our client last in both lists.
    public static func forwardingViolation(_ head: RequestHead) -> String? {
        var out = ByteBuffer()
        ForwardedHeadWriter.write(head, client: ForwardedHeadWriter.ClientAddress("2001:db8::7")!, into: &out)
        let written = String(decoding: out.readableBytesView, as: UTF8.self).debugDescription
        var parser = RequestHeadParser(limits: reparseLimits)
        let again: RequestHead
        do {
            guard let parsed = try parser.parse(&out), out.readableBytes == 0 else { return "forwarded head incomplete: \(written)" }
            again = parsed
        } catch {
            return "forwarded head refused (\(error)): \(written)"
        }
        guard again.method == head.method, again.version == head.version, again.framing == head.framing,
              again.target.elementsEqual(head.target), again.isUpgradeRequest == head.isUpgradeRequest,
              again.headers.first(named: "host") == head.headers.first(named: "host") else {
            return "forwarded head differs from the received one: \(written)"
        }
        for field in again.headers {
            let allowed = ["transfer-encoding", "content-length", "host"].contains { field.hasName($0) }
                || (head.isUpgradeRequest && (field.hasName("upgrade") || field.hasName("connection")))
            if !allowed && HopByHopHeaders.isHopByHop(field.name, in: again.headers) {
                return "hop-by-hop field \(field.nameString) forwarded: \(written)"
            }
        }
        let xff = again.headers.values(named: "x-forwarded-for")
        let forwarded = again.headers.values(named: "forwarded")
        guard xff.count == 1, forwarded.count == 1,
              String(decoding: xff[0], as: UTF8.self).hasSuffix("2001:db8::7"),
              String(decoding: forwarded[0], as: UTF8.self).hasSuffix("for=\"[2001:db8::7]\";proto=http") else {
            return "forwarding fields wrong: \(written)"
        }
        return nil
    }

    /// Parses an upstream's stream of responses, fed in `pieces`; exchange `n` answers `methods[n % count]`
    /// and asked to upgrade when `n % 3 == 2`.
    public static func responses(
        _ bytes: [UInt8], methods: [HTTPMethod], limits: HTTP1Limits = HTTP1Limits(), pieces: [Int] = []
    ) -> Outcome {
        var outcome = Outcome()
        var parser = ResponseHeadParser(limits: limits)
        var framer: BodyFramer?
        var rawPipe = false
        var exchange = 0
        var pending = ByteBuffer()
        func record(_ event: BodyFramer.Event) {
            switch event {
            case .body(let data): outcome.add(.body(Array(data.readableBytesView))); outcome.forward(data.readableBytesView)
            case .framing(let data): outcome.add(.framing(Array(data.readableBytesView))); outcome.forward(data.readableBytesView)
            case .end(let trailers): outcome.add(.end(trailers: trailers.map { $0.map { "\($0.nameString): \($0.valueString)" } } ?? []))
            }
        }
        do {
            for var piece in split(bytes, pieces) {
                pending.writeBuffer(&piece)
                while true {
                    if rawPipe {
                        if pending.readableBytes > 0 {
                            outcome.add(.raw(Array(pending.readableBytesView)))
                            outcome.forward(pending.readableBytesView)
                            pending.moveReaderIndex(forwardBy: pending.readableBytes)
                        }
                        break
                    } else if var current = framer {
                        guard let event = try current.next(&pending) else { framer = current; break }
                        record(event)
                        framer = current.isComplete ? nil : current
                    } else {
                        let method = methods.isEmpty ? .get : methods[exchange % methods.count]
                        guard let head = try parser.parse(&pending, requestMethod: method, requestedUpgrade: exchange % 3 == 2) else { break }
                        outcome.add(.head(summary(head)))
                        outcome.forward(head.bytes.readableBytesView)
                        switch head.framing {
                        case .interim: break
                        case .switchingProtocols, .tunnel: rawPipe = true
                        case .body(let body):
                            framer = BodyFramer(framing: body, limits: limits)
                            exchange += 1
                        }
                    }
                }
            }
            if var current = framer {
                while let event = try current.inputEnded() { record(event) }
            }
        } catch {
            outcome.add(.error(code: error.code, offset: error.offset))
        }
        return outcome
    }

    /// Small limits, so the fuzzer reaches every one of them.
    public static let smallLimits = HTTP1Limits(
        maxHeadSize: 256, maxHeaderCount: 4, maxRequestTargetLength: 32, maxLeadingEmptyLines: 2,
        maxChunkLineLength: 16, maxChunkSize: 0xFFFF, maxTrailerSize: 64)

    /// The first input octet selects requests or responses (bit 0), small or default limits (bit 1) and
    /// the piece size (bits 2-7); the rest is the stream.
    public static func check(_ input: [UInt8]) throws(Violation) {
        guard let selector = input.first else { return }
        let stream = Array(input.dropFirst())
        let limits = selector & 2 != 0 ? smallLimits : HTTP1Limits()
        let methods: [HTTPMethod] = [.get, .head, .post, .connect]
        let piece = Int(selector >> 2) % 17 + 1
        let run = { (pieces: [Int]) -> Outcome in
            selector & 1 == 0
                ? requests(stream, limits: limits, pieces: pieces)
                : responses(stream, methods: methods, limits: limits, pieces: pieces)
        }
        let whole = run([])
        for pieces in [[piece], [1], [stream.count / 2, stream.count]] {
            let split = run(pieces)
            guard split == whole else {
                throw Violation(description: "whole and in pieces \(pieces) differ:\n  \(whole.steps)\n  \(split.steps)")
            }
        }
        try checkForwarded(whole, stream)
        if let violation = whole.forwardingViolations.first { throw Violation(description: violation) }
    }

    /// The forwarded octets, with the skipped empty lines put back, are the start of the input; an error
    /// points inside the input.
    public static func checkForwarded(_ outcome: Outcome, _ stream: [UInt8]) throws(Violation) {
        guard outcome.forwarded.count + outcome.skipped == outcome.reconstructed.count,
              stream.starts(with: outcome.reconstructed) else {
            throw Violation(description: "forwarded octets (\(outcome.forwarded.count), \(outcome.skipped) skipped) are not the input's")
        }
        if case .error(_, let offset)? = outcome.steps.last, offset > stream.count {
            throw Violation(description: "error offset \(offset) is past the input's \(stream.count) octets")
        }
    }
}
