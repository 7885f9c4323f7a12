import NIOCore
import ShuntAgent
import ShuntHTTP1
import ShuntMatch

/// Checks for the agent's per-connection state machine (`EdgeExchange`) driven by arbitrary bytes:
/// the fuzz target `FuzzEdge` and the tests that replay its fail cases.
///
/// Input: octet 0 picks the piece size (bits 0–3, 1…16) and whether upstreams fail (bit 4) or end
/// early and refuse the last request (bit 5); octet 1 splits the rest into the client's bytes and the upstream's bytes. Client
/// and upstream pieces are fed in turn; every request head is routed through an intercept table of
/// three rules (header, prefix + header, regex). Then both sides end.
///
/// Invariants: nothing is done after the client connection is closed; nothing goes upstream unless
/// an upstream is ready (or the connection is a pipe); the client never receives more than the
/// upstreams sent plus the edge's own error answers; no request is routed while one is in progress;
/// the exchange always ends (closes, or is a pipe) once both sides have ended.
public enum EdgeInvariants {
    public struct Violation: Error, CustomStringConvertible {
        public let description: String
    }

    static let table: InterceptTable = {
        var table = InterceptTable()
        let rules: [(String, RuleFlags)] = [
            ("alice", RuleFlags(httpHeader: ["x-dev=alice"])),
            ("bob", RuleFlags(httpHeader: ["x-team=t"], pathPrefix: ["/api"])),
            ("carol", RuleFlags(httpHeader: ["x-dev=carol"], pathRegex: ["/orders/[0-9]+(/items)?"])),
        ]
        for (owner, flags) in rules {
            guard let spec = try? flags.spec(), let rule = try? InterceptRule(owner: owner, name: "orders-\(owner)", spec: spec) else {
                preconditionFailure("the fixed rules are valid")
            }
            try? table.add(rule)
        }
        return table
    }()

    public static func check(_ input: [UInt8]) throws(Violation) {
        guard input.count >= 2 else { return }
        let piece = Int(input[0] & 0x0F) + 1
        let upstreamFails = input[0] & 0x10 != 0
        let upstreamEndsEarly = input[0] & 0x20 != 0
        let rest = input[2...]
        let split = rest.startIndex + rest.count * Int(input[1]) / 256
        var client = ArraySlice(rest[rest.startIndex..<split])
        var upstream = ArraySlice(rest[split...])
        let upstreamTotal = upstream.count

        var exchange = EdgeExchange(client: ForwardedHeadWriter.ClientAddress("10.0.0.1")!)
        var closed = false
        var upstreamReady = false
        var piping = false
        var toClient = 0
        var errorAnswers = 0
        var routes = 0
        var retries = 0

        func apply(_ actions: [EdgeExchange.Action]) throws(Violation) {
            var pending = actions
            while !pending.isEmpty {
                let action = pending.removeFirst()
                if closed { throw Violation(description: "\(action) after the client connection was closed") }
                switch action {
                case .route:
                    if upstreamReady { throw Violation(description: "a route asked while a request is in progress") }
                    guard let head = exchange.routingHead else { throw Violation(description: "a route asked without a head waiting") }
                    routes += 1
                    _ = table.route(head)
                    if exchange.wantsClientBytes { throw Violation(description: "wants client bytes while routing") }
                    if upstreamFails {
                        errorAnswers += 1
                        pending += exchange.upstreamFailed(status: 502, message: "fuzz")
                    } else {
                        upstreamReady = true
                        // Every other request goes on a "reused" connection, which may be retried.
                        pending += exchange.upstreamReady(reused: routes % 2 == 0)
                    }
                case .sendUpstream(let bytes):
                    if !upstreamReady && !piping { throw Violation(description: "\(bytes.readableBytes) octets sent upstream with no upstream") }
                case .sendClient(let bytes):
                    toClient += bytes.readableBytes
                case .finishUpstream:
                    if !upstreamReady && !piping { throw Violation(description: "an upstream finished that was never ready") }
                    upstreamReady = false
                case .pipe:
                    if !upstreamReady { throw Violation(description: "a pipe with no upstream") }
                    piping = true
                case .closeClient:
                    closed = true
                case .retryOnNewConnection:
                    if upstreamReady { throw Violation(description: "a retry while the old upstream is still in use") }
                    retries += 1
                    if retries > routes { throw Violation(description: "\(retries) retries for \(routes) requests") }
                    upstreamReady = true
                    pending += exchange.upstreamReady()
                }
            }
        }

        var rounds = 0
        while !(client.isEmpty && upstream.isEmpty) && !closed {
            rounds += 1
            if rounds > 1_000_000 { throw Violation(description: "the feed does not end") }
            if !client.isEmpty && (exchange.wantsClientBytes || upstream.isEmpty) {
                let take = client.prefix(piece)
                client = client.dropFirst(take.count)
                if exchange.wantsClientBytes { try apply(exchange.clientRead(ByteBuffer(bytes: take))) }
            }
            if !upstream.isEmpty && (upstreamReady || piping) && !closed {
                let take = upstream.prefix(piece)
                upstream = upstream.dropFirst(take.count)
                try apply(exchange.upstreamRead(ByteBuffer(bytes: take)))
            } else if !upstream.isEmpty && !(upstreamReady || piping) && (client.isEmpty || !exchange.wantsClientBytes) {
                break  // nothing can take the upstream's bytes
            }
            if upstreamEndsEarly && upstreamReady && !closed && rounds % 7 == 0 {
                let retriesBefore = retries
                try apply(exchange.upstreamEnded())
                // A retry puts the request on a new upstream: that one is in use, not the one that ended.
                if !closed && upstreamReady && retries == retriesBefore {
                    throw Violation(description: "an upstream that ended is still in use")
                }
            }
        }
        if !closed { try apply(exchange.clientEnded()) }
        // An upstream that ends (or, with bit 5, first refuses the request: a kept tunnel stream the
        // laptop had ended) may be retried once on a new one, which then ends too.
        for attempt in 0..<2 where !closed && upstreamReady {
            if attempt == 0 && upstreamEndsEarly {
                try apply(exchange.upstreamRefused(status: 502, message: "fuzz"))
            } else {
                try apply(exchange.upstreamEnded())
            }
        }
        if !closed && !piping {
            throw Violation(description: "the exchange did not end after both sides ended (inside a request: \(exchange.isInsideRequest))")
        }
        let errorBound = errorAnswers * 512 + (routes + 1) * 512
        if toClient > upstreamTotal + errorBound {
            throw Violation(description: "\(toClient) octets to the client from \(upstreamTotal) upstream octets and \(errorAnswers) error answers")
        }
    }
}
