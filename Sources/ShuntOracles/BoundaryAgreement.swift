import NIOCore
import ShuntAgent
import ShuntEndpoint
import ShuntHTTP1

/// Where the two ends of a tunnel stream think an exchange ends: the agent (`EdgeExchange`, reading
/// the response as it comes up the stream) and the laptop (`LocalExchange`, reading the same octets
/// from the local service). A kept stream (spec §10.2) carries the next request only once the agent
/// says the exchange is over, and the laptop reports the exchange and may pool its local connection
/// when it says so; the two must agree on the octet. The fuzz target `FuzzBoundary` checks this on
/// generated input, and the unit tests on seeds and their mutations.
///
/// Input: octet 0 picks the piece size (bits 0–3, 1…16); octet 1 splits the rest into the caller's
/// octets and the local service's. The caller's octets go to the agent's exchange until it stops
/// wanting them; the first request it routes goes up a fresh stream (not a reused one), and the
/// octets it forwards are what the laptop reads as the request. Then the service's octets are fed,
/// piece by piece, to both. Only that first exchange is followed.
///
/// Invariants, with *k* the number of service octets fed when one end saw the response end:
/// 1. the laptop sees the end at most once;
/// 2. when the agent keeps the stream for the next request (`finishUpstream(reusable: true)`) at *k*,
///    the laptop saw the end at *k* too;
/// 3. when the laptop sees the end at *k*, the agent is done with the exchange by *k* as well: it
///    finished the stream (kept or not) or closed the caller's connection. Otherwise the caller
///    would wait for octets the service considers sent.
public enum BoundaryAgreement {
    public struct Violation: Error, CustomStringConvertible {
        public let description: String
    }

    /// What each end saw (nil: the agent routed no request upstream).
    public struct Outcome: Equatable, Sendable, CustomStringConvertible {
        /// Service octets fed when the agent finished the stream, and whether it kept it.
        public var agentEnd: Int?
        public var agentKeeps = false
        /// Service octets fed when the agent closed the caller's connection (an error answer).
        public var agentClosed: Int?
        /// Service octets fed when the laptop saw the final response end, and whether it would
        /// pool its local connection.
        public var laptopEnd: Int?
        public var laptopReusable = false
        /// Request octets the agent forwarded.
        public var forwarded = 0

        public var description: String {
            "agent ends at \(agentEnd.map(String.init) ?? "-")\(agentKeeps ? " (kept)" : ""), closes at \(agentClosed.map(String.init) ?? "-"); "
                + "laptop ends at \(laptopEnd.map(String.init) ?? "-")\(laptopReusable ? " (reusable)" : ""); \(forwarded) octets forwarded"
        }
    }

    public static func check(_ input: [UInt8]) throws(Violation) {
        guard let outcome = try run(input) else { return }
        if outcome.agentKeeps, outcome.laptopEnd != outcome.agentEnd {
            throw Violation(description: "the agent keeps the stream but the laptop disagrees where the response ends: \(outcome)")
        }
        if let end = outcome.laptopEnd {
            let agentDone = [outcome.agentEnd, outcome.agentClosed].contains { $0.map { $0 <= end } ?? false }
            if !agentDone {
                throw Violation(description: "the laptop saw the response end but the agent still waits for it: \(outcome)")
            }
        }
    }

    /// Drives both ends; nil when no request went up a stream.
    public static func run(_ input: [UInt8]) throws(Violation) -> Outcome? {
        guard input.count >= 2 else { return nil }
        let piece = Int(input[0] & 0x0F) + 1
        let rest = input[2...]
        let split = rest.startIndex + rest.count * Int(input[1]) / 256
        var caller = ArraySlice(rest[rest.startIndex..<split])
        var service = ArraySlice(rest[split...])

        var agent = EdgeExchange(client: ForwardedHeadWriter.ClientAddress("10.0.0.1")!)
        var laptop = LocalExchange()
        var outcome = Outcome()
        var routed = false
        var streamOpen = false
        var closed = false
        var fed = 0

        func apply(_ actions: [EdgeExchange.Action]) throws(Violation) {
            var pending = actions
            while !pending.isEmpty {
                let action = pending.removeFirst()
                switch action {
                case .route:
                    guard !routed else { return }  // a second request: only the first exchange is followed
                    routed = true
                    streamOpen = true
                    pending += agent.upstreamReady(reused: false)
                case .sendUpstream(let bytes):
                    guard streamOpen else { continue }
                    outcome.forwarded += bytes.readableBytes
                    laptop.requestRead(bytes)
                case .finishUpstream(let reusable):
                    if streamOpen && outcome.agentEnd == nil {
                        outcome.agentEnd = fed
                        outcome.agentKeeps = reusable
                    }
                    streamOpen = false
                case .closeClient:
                    if outcome.agentClosed == nil { outcome.agentClosed = fed }
                    closed = true
                case .retryOnNewConnection:
                    throw Violation(description: "a retry of a request that went up a fresh stream")
                case .sendClient, .pipe:
                    continue
                }
            }
        }

        while !caller.isEmpty && agent.wantsClientBytes && !closed {
            let take = caller.prefix(piece)
            caller = caller.dropFirst(take.count)
            try apply(agent.clientRead(ByteBuffer(bytes: take)))
        }
        guard routed else { return nil }
        var laptopEnds = 0
        while !service.isEmpty && streamOpen && !closed {
            let take = service.prefix(piece)
            service = service.dropFirst(take.count)
            fed += take.count
            if laptop.responseRead(ByteBuffer(bytes: take)) {
                laptopEnds += 1
                if laptopEnds > 1 { throw Violation(description: "the laptop saw the response end twice: \(outcome)") }
                outcome.laptopEnd = fed
                outcome.laptopReusable = laptop.reusable
            }
            try apply(agent.upstreamRead(ByteBuffer(bytes: take)))
        }
        return outcome
    }
}
