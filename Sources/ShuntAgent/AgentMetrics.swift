import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus
import ShuntTLS
import ShuntWire

/// What the agent counts, served in Prometheus text on the admin port's `/metrics`. The counters are
/// swift-metrics `Counter`s made by a `PrometheusMetricsFactory` on the agent's own registry (no global
/// bootstrap: several agents in one process, as in tests and `shunt demo`, keep separate counts).
/// The gauges (sessions, intercepts, streams) and the tunnel octets are read from the live state
/// when `/metrics` is asked for.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    let routedToApp: CoreMetrics.Counter
    let routedToLaptop: CoreMetrics.Counter
    let failedOpen: CoreMetrics.Counter
    /// Requests sent again on a new app connection after a reused one closed before answering.
    let appRetries: CoreMetrics.Counter
    /// Requests sent to a laptop on a tunnel stream kept alive from an earlier request (spec §10.2).
    let laptopStreamsReused: CoreMetrics.Counter
    /// Requests sent again on a new tunnel stream after a kept one ended or was refused before answering.
    let laptopRetries: CoreMetrics.Counter
    /// Requests the edge answered itself: malformed (400 …), timed out (408), upstream failed (502).
    private let edgeAnswers = NIOLockedValueBox<[Int: CoreMetrics.Counter]>([:])
    private let handshakeFailures = NIOLockedValueBox<[String: CoreMetrics.Counter]>([:])
    private let sessionErrors = NIOLockedValueBox<[String: CoreMetrics.Counter]>([:])
    let sessionsAccepted: CoreMetrics.Counter
    /// Times the edge's own loop stopped accepting for `DirectEdgeLoop.acceptPause`: the process was
    /// out of file descriptors.
    let edgeAcceptPauses: CoreMetrics.Counter
    private let tunnelOctetsIn: CoreMetrics.Counter
    private let tunnelOctetsOut: CoreMetrics.Counter
    /// Octets of sessions that ended, and what was last reported: the counters grow by the difference.
    private let octets = NIOLockedValueBox(Octets())
    private let sessionsGauge: CoreMetrics.Gauge
    private let interceptsGauge: CoreMetrics.Gauge
    private let streamsGauge: CoreMetrics.Gauge

    struct Octets {
        var endedIn = 0
        var endedOut = 0
        var reportedIn = 0
        var reportedOut = 0
    }

    /// The codes with which the agent ends a session for abuse (spec §8): each is an abuse-limit hit.
    public static let abuseCodes: Set<ErrorCode> = [.enhanceYourCalm, .flowControlError, .streamLimitError, .metadataError, .frameSizeError]

    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
        routedToApp = CoreMetrics.Counter(label: "shunt_agent_requests_total", dimensions: [("route", "app")], factory: factory)
        routedToLaptop = CoreMetrics.Counter(label: "shunt_agent_requests_total", dimensions: [("route", "laptop")], factory: factory)
        failedOpen = CoreMetrics.Counter(label: "shunt_agent_requests_total", dimensions: [("route", "failed_open")], factory: factory)
        appRetries = CoreMetrics.Counter(label: "shunt_agent_app_retries_total", factory: factory)
        laptopStreamsReused = CoreMetrics.Counter(label: "shunt_agent_laptop_streams_reused_total", factory: factory)
        laptopRetries = CoreMetrics.Counter(label: "shunt_agent_laptop_retries_total", factory: factory)
        sessionsAccepted = CoreMetrics.Counter(label: "shunt_agent_sessions_accepted_total", factory: factory)
        edgeAcceptPauses = CoreMetrics.Counter(label: "shunt_agent_edge_accept_pauses_total", factory: factory)
        tunnelOctetsIn = CoreMetrics.Counter(label: "shunt_agent_tunnel_octets_total", dimensions: [("direction", "in")], factory: factory)
        tunnelOctetsOut = CoreMetrics.Counter(label: "shunt_agent_tunnel_octets_total", dimensions: [("direction", "out")], factory: factory)
        sessionsGauge = CoreMetrics.Gauge(label: "shunt_agent_sessions", factory: factory)
        interceptsGauge = CoreMetrics.Gauge(label: "shunt_agent_intercepts", factory: factory)
        streamsGauge = CoreMetrics.Gauge(label: "shunt_agent_tunnel_streams", factory: factory)
    }

    /// The edge answered a request itself with `status`.
    func edgeAnswered(status: Int) {
        counter(in: edgeAnswers, key: status, label: "shunt_agent_edge_answers_total", dimension: ("status", String(status))).increment()
    }

    /// A laptop's TLS handshake was refused.
    func handshakeRefused(_ refusal: Error) {
        let reason = (refusal as? HandshakeRefusal)?.label ?? "other"
        counter(in: handshakeFailures, key: reason, label: "shunt_agent_handshake_failures_total", dimension: ("reason", reason)).increment()
    }

    /// A session ended with an error the agent detected (its code names the limit or the fault).
    func sessionFailed(code: ErrorCode) {
        let name = code.description
        let label = Self.abuseCodes.contains(code) ? "shunt_agent_abuse_limit_hits_total" : "shunt_agent_session_errors_total"
        counter(in: sessionErrors, key: label + name, label: label, dimension: ("code", name)).increment()
    }

    func sessionEnded(octetsIn: Int, octetsOut: Int) {
        octets.withLockedValue {
            $0.endedIn += octetsIn
            $0.endedOut += octetsOut
        }
    }

    /// Brings the gauges and the octet counters up to date with the live state, then renders.
    func render(sessions: Int, intercepts: Int, streams: Int, liveOctetsIn: Int, liveOctetsOut: Int) -> String {
        sessionsGauge.record(sessions)
        interceptsGauge.record(intercepts)
        streamsGauge.record(streams)
        let (grewIn, grewOut) = octets.withLockedValue { state -> (Int, Int) in
            let totalIn = state.endedIn + liveOctetsIn
            let totalOut = state.endedOut + liveOctetsOut
            let grown = (max(0, totalIn - state.reportedIn), max(0, totalOut - state.reportedOut))
            state.reportedIn = max(state.reportedIn, totalIn)
            state.reportedOut = max(state.reportedOut, totalOut)
            return grown
        }
        if grewIn > 0 { tunnelOctetsIn.increment(by: grewIn) }
        if grewOut > 0 { tunnelOctetsOut.increment(by: grewOut) }
        return registry.emitToString()
    }

    private func counter<Key: Hashable & Sendable>(in box: NIOLockedValueBox<[Key: CoreMetrics.Counter]>, key: Key, label: String,
                                                   dimension: (String, String)) -> CoreMetrics.Counter {
        box.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(label: label, dimensions: [dimension], factory: factory)
            counters[key] = counter
            return counter
        }
    }
}
