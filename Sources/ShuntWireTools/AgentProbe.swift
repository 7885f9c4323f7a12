import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ShuntSession
import ShuntTLS
import ShuntWire
import X509

/// `shunt-wire ping`: connects to an agent as a laptop would (TLS 1.3, ALPN `shunt/1`, client
/// certificate), exchanges HELLOs, times PING round trips, and ends the session with GOAWAY.
public struct AgentProbe: Sendable {
    public struct Options: Sendable {
        /// PING round trips to time.
        public var count = Self.defaultCount
        /// Time between one PING's answer and the next PING. The agent allows 100 PINGs per 10 s
        /// (spec §8); at 0.2 s a probe stays well inside that.
        public var interval = Self.defaultInterval
        /// The whole probe (connect, handshake, HELLO, round trips) must finish within this.
        public var deadline = Self.defaultDeadline

        public static let defaultCount = 5
        public static let defaultInterval = TimeAmount.milliseconds(200)
        public static let defaultDeadline = TimeAmount.seconds(30)
        /// The agent's PING budget (spec §8): a probe sends fewer than this per 10 s.
        public static let agentPingBudget = 100

        public init() {}
    }

    /// One certificate of the chain, as a person checks it.
    public struct CertificateSummary: Hashable, Sendable {
        public var role: String
        public var subject: String
        public var issuer: String
        public var notValidBefore: Date
        public var notValidAfter: Date
        public var names: [String]

        init(role: String, _ certificate: Certificate) {
            self.role = role
            subject = certificate.subject.description
            issuer = certificate.issuer.description
            notValidBefore = certificate.notValidBefore
            notValidAfter = certificate.notValidAfter
            var names: [String] = []
            if let alternatives = try? certificate.extensions.subjectAlternativeNames {
                for name in alternatives {
                    switch name {
                    case .dnsName(let dns): names.append(dns)
                    case .ipAddress(let octets): names.append(octets.bytes.count == 4 ? octets.bytes.map(String.init).joined(separator: ".") : "IPv6 " + octets.bytes.map { String($0, radix: 16) }.joined(separator: ":"))
                    default: break
                    }
                }
            }
            self.names = names
        }
    }

    public struct Report: Sendable {
        public var agent: String
        public var version: UInt16
        public var peerSettings: PeerSettings
        public var localIdentity: String
        public var agentIdentity: String
        public var chain: [CertificateSummary]
        public var handshake: TimeAmount
        public var roundTrips: [TimeAmount]
        /// Set when the session ended badly after the handshake (a GOAWAY with an error, a timeout).
        public var sessionError: String?

        public var healthy: Bool { sessionError == nil && roundTrips.count > 0 }
    }

    /// Why the probe failed, in words a person can act on.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var stage: String
        public var message: String
        public var description: String { "\(stage): \(message)" }
    }

    public let endpoint: ShuntTLSEndpoint
    public let authority: Certificate?
    public var options: Options

    public init(endpoint: ShuntTLSEndpoint, authority: Certificate? = nil, options: Options = Options()) {
        self.endpoint = endpoint
        self.authority = authority
        self.options = options
    }

    public func run(host: String, port: Int, group: EventLoopGroup) async throws -> Report {
        let loop = group.next()
        let rounds = RoundTrips(wanted: options.count, promise: loop.makePromise())
        do {
            return try await run(host: host, port: port, loop: loop, rounds: rounds)
        } catch {
            // Every promise is completed, whatever failed (a second completion is ignored).
            rounds.promise.fail(error)
            throw error
        }
    }

    /// Connects to an agent as a laptop would and waits for the verified TLS handshake (not HELLO).
    /// `makeSession` builds the session on the channel's loop once the agent is verified. A failure
    /// names its stage, and a refusal is told in the words of the side that refused (`explain`).
    public static func dial(endpoint: ShuntTLSEndpoint, host: String, port: Int, loop: EventLoop, deadline: TimeAmount,
                            makeSession: @escaping @Sendable (Channel) -> SessionHandler) async throws -> ShuntConnection {
        let connected = loop.makePromise(of: ShuntConnection.self)
        do {
            return try await dial(endpoint: endpoint, host: host, port: port, loop: loop, deadline: deadline, connected: connected, makeSession: makeSession)
        } catch {
            connected.fail(error)
            throw error
        }
    }

    private static func dial(endpoint: ShuntTLSEndpoint, host: String, port: Int, loop: EventLoop, deadline: TimeAmount,
                             connected: EventLoopPromise<ShuntConnection>,
                             makeSession: @escaping @Sendable (Channel) -> SessionHandler) async throws -> ShuntConnection {
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(deadline)
                .channelInitializer { channel in
                    endpoint.configure(channel, host: host) { _ in makeSession(channel) }.cascade(to: connected)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .connect(host: host, port: port).get()
        } catch {
            throw Failure(stage: "connect", message: "cannot reach \(host):\(port): \(error)")
        }
        let timer = loop.scheduleTask(in: deadline) {
            connected.fail(Failure(stage: "deadline", message: "no verified handshake within \(deadline.nanoseconds / 1_000_000_000) s (is it a Shunt agent's tunnel port?)"))
        }
        defer { timer.cancel() }
        do {
            return try await connected.futureResult.get()
        } catch let refusal as HandshakeRefusal {
            throw Failure(stage: "TLS handshake", message: explain(refusal))
        } catch let failure as Failure {
            channel.close(promise: nil)
            throw failure
        } catch {
            throw Failure(stage: "TLS handshake", message: "\(error)")
        }
    }

    private func run(host: String, port: Int, loop: EventLoop, rounds: RoundTrips) async throws -> Report {
        let options = self.options
        let started = NIODeadline.now()
        let configuration = {
            var configuration = SessionConfiguration(role: .client)
            configuration.pingInterval = options.interval
            return configuration
        }()
        let peerCertificateBox = NIOLockedValueBox<NIOSSLCertificate?>(nil)
        let deadline = loop.scheduleTask(deadline: started + options.deadline) {
            rounds.promise.fail(Failure(stage: "deadline", message: "the probe did not finish within \(options.deadline.nanoseconds / 1_000_000_000) s"))
        }
        defer { deadline.cancel() }
        let connection = try await Self.dial(endpoint: endpoint, host: host, port: port, loop: loop, deadline: options.deadline) { channel in
            // Taken here, on the loop, the moment the peer is verified: later the
            // handler may already be gone from a pipeline that closed.
            if let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate() {
                peerCertificateBox.withLockedValue { $0 = certificate }
            }
            let session = SessionHandler(configuration: configuration, inboundStreamInitializer: { $0.close() })
            session.onRoundTrip { rounds.add($0) }
            return session
        }
        let channel = connection.channel
        let handshake = NIODeadline.now() - started
        let session = connection.session
        var chain: [CertificateSummary] = []
        // The certificate the handshake gate verified; from the TLS handler only as a fallback.
        if let leaf = connection.peer.certificate {
            chain.append(CertificateSummary(role: "agent", leaf))
        } else if let der = try? (peerCertificateBox.withLockedValue { $0 })?.toDERBytes(), let leaf = try? Certificate(derEncoded: der) {
            chain.append(CertificateSummary(role: "agent", leaf))
        }
        if let authority { chain.append(CertificateSummary(role: "CA (trusted, from the certs folder)", authority)) }

        let ended = loop.flatSubmit { session.ended(on: loop) }
        ended.whenSuccess { error in
            rounds.promise.fail(Failure(stage: "session", message: error.map { "\($0)" } ?? "the agent ended the session"))
        }
        let version: UInt16
        do {
            version = try await loop.flatSubmit { session.ready(on: loop) }.get()
        } catch {
            channel.close(promise: nil)
            throw Failure(stage: "HELLO", message: "\(error)")
        }
        let peerSettings = try await loop.submit { session.peerSettings }.get()
        var report = Report(agent: "\(host):\(port)", version: version, peerSettings: peerSettings, localIdentity: endpoint.identity.name,
                            agentIdentity: connection.peer.name, chain: chain, handshake: handshake, roundTrips: [], sessionError: nil)
        do {
            report.roundTrips = try await rounds.promise.futureResult.get()
        } catch {
            report.roundTrips = rounds.collected
            report.sessionError = "\(error)"
        }
        try? await loop.submit { session.goAway(code: .noError, debug: "shunt-wire ping done", graceful: false) }.get()
        _ = try? await channel.closeFuture.get()
        return report
    }

    /// A refusal in the words of the side that refused (`HandshakeRefusal` says what an alert from
    /// the agent objected to).
    public static func explain(_ refusal: HandshakeRefusal) -> String {
        refusal.description
    }

    /// Collects round trips until `wanted` arrived (called on the session's event loop).
    final class RoundTrips: @unchecked Sendable {
        let wanted: Int
        let promise: EventLoopPromise<[TimeAmount]>
        private(set) var collected: [TimeAmount] = []

        init(wanted: Int, promise: EventLoopPromise<[TimeAmount]>) {
            self.wanted = wanted
            self.promise = promise
        }

        func add(_ time: TimeAmount) {
            guard collected.count < wanted else { return }
            collected.append(time)
            if collected.count == wanted { promise.succeed(collected) }
        }
    }
}

extension AgentProbe.Report {
    /// min / median / max of the round trips, in milliseconds.
    public var statistics: (min: Double, median: Double, max: Double)? {
        guard !roundTrips.isEmpty else { return nil }
        let sorted = roundTrips.map { Double($0.nanoseconds) / 1e6 }.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return (sorted.first!, median, sorted.last!)
    }

    /// What `shunt-wire ping` prints.
    public var text: String {
        let formatter = ISO8601DateFormatter()
        var lines: [String] = []
        lines.append("agent \(agent): TLS 1.3, ALPN \(ShuntTLS.alpn), handshake \(Self.milliseconds(handshake)) ms")
        lines.append("  we are \"\(localIdentity)\"; the agent is \"\(agentIdentity)\"")
        lines.append("protocol version \(version); the agent's settings:")
        let defaults = PeerSettings()
        func setting(_ name: String, _ value: UInt32, _ standard: UInt32) {
            lines.append("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(value)\(value == standard ? " (default)" : "")")
        }
        setting("MAX_FRAME_SIZE", peerSettings.maxFrameSize, defaults.maxFrameSize)
        setting("INITIAL_STREAM_WINDOW", peerSettings.initialStreamWindow, defaults.initialStreamWindow)
        setting("INITIAL_SESSION_WINDOW", peerSettings.initialSessionWindow, defaults.initialSessionWindow)
        setting("INITIAL_MAX_STREAMS", peerSettings.initialMaxStreams, defaults.initialMaxStreams)
        setting("MAX_METADATA_SIZE", peerSettings.maxMetadataSize, defaults.maxMetadataSize)
        setting("COMPRESSION", peerSettings.compression, defaults.compression)
        setting("HTTP_KEEP_ALIVE", peerSettings.httpKeepAlive, defaults.httpKeepAlive)
        lines.append("certificate chain:")
        for certificate in chain {
            lines.append("  \(certificate.role): \(certificate.subject)")
            lines.append("    issuer  \(certificate.issuer)")
            lines.append("    valid   \(formatter.string(from: certificate.notValidBefore)) to \(formatter.string(from: certificate.notValidAfter))"
                         + " (\(Int(certificate.notValidAfter.timeIntervalSinceNow / 86_400)) days left)")
            if !certificate.names.isEmpty { lines.append("    names   \(certificate.names.joined(separator: ", "))") }
        }
        for (index, time) in roundTrips.enumerated() {
            lines.append("PING \(index + 1): \(Self.milliseconds(time)) ms")
        }
        if let statistics {
            lines.append("round trip min/median/max = \(Self.format(statistics.min))/\(Self.format(statistics.median))/\(Self.format(statistics.max)) ms (\(roundTrips.count) PINGs)")
        }
        if let sessionError { lines.append("session failed: \(sessionError)") }
        lines.append(healthy ? "healthy" : "NOT healthy")
        return lines.joined(separator: "\n")
    }

    static func milliseconds(_ time: TimeAmount) -> String { format(Double(time.nanoseconds) / 1e6) }

    static func format(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
