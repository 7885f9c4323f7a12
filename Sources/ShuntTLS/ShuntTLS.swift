import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS
import ShuntSession
import X509

/// Shunt's transport (spec §2): TLS 1.3 only, ALPN `shunt/1`, mutual authentication with one Shunt CA.
public enum ShuntTLS {
    public static let alpn = "shunt/1"

    /// The environment variable that turns on the key log (NSS format) for Wireshark; off when unset.
    public static let keyLogVariable = "SSLKEYLOGFILE"
}

/// A verified Shunt connection: the channel, its session, and who is on the other end.
public struct ShuntConnection: @unchecked Sendable {
    public let channel: Channel
    public let session: SessionHandler
    public let peer: PeerIdentity
}

/// One side's TLS setup: its certificate and key, the CA it trusts, and how it checks the peer.
public final class ShuntTLSEndpoint: Sendable {
    public enum Side: Sendable { case agent, developer }

    public let side: Side
    public let verifier: PeerVerifier
    public let identity: PeerIdentity
    /// A handshake (TLS and the gate's checks) not done within this is refused: a peer that connects
    /// and says nothing holds no connection for long, and a silent server does not hang a client.
    public let handshakeTimeout: TimeAmount
    private let context: NIOSSLContext

    /// The agent's side, from `agent.pem`, `agent-key.pem` and `ca.pem` in `folder`.
    public static func agent(folder: CertificateFolder, keyLogPath: String? = ProcessInfo.processInfo.environment[ShuntTLS.keyLogVariable]) throws -> ShuntTLSEndpoint {
        try ShuntTLSEndpoint(side: .agent, certificate: folder.loadCertificate(.agent), key: folder.loadKey(.agentKey),
                             authority: folder.loadCertificate(.ca), keyLogPath: keyLogPath)
    }

    /// A developer's side, from `client.pem`, `client-key.pem` and `ca.pem` in `folder`.
    public static func developer(folder: CertificateFolder, keyLogPath: String? = ProcessInfo.processInfo.environment[ShuntTLS.keyLogVariable]) throws -> ShuntTLSEndpoint {
        try ShuntTLSEndpoint(side: .developer, certificate: folder.loadCertificate(.client), key: folder.loadKey(.clientKey),
                             authority: folder.loadCertificate(.ca), keyLogPath: keyLogPath)
    }

    /// `alpn` exists for tests that must offer something else.
    public init(side: Side, certificate: Certificate, key: P256.Signing.PrivateKey, authority: Certificate,
                keyLogPath: String? = nil, alpn: [String] = [ShuntTLS.alpn], handshakeTimeout: TimeAmount = .seconds(10)) throws {
        self.side = side
        self.handshakeTimeout = handshakeTimeout
        self.verifier = PeerVerifier(authority: authority)
        self.identity = PeerIdentity(name: PeerVerifier.commonName(certificate.subject) ?? certificate.subject.description,
                                     subject: certificate.subject.description, notValidAfter: certificate.notValidAfter)
        let chain = [NIOSSLCertificateSource.certificate(try NIOSSLCertificate(bytes: Array(try certificate.serializeAsPEM().pemString.utf8), format: .pem))]
        let privateKey = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem))
        var configuration = side == .agent
            ? TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: privateKey)
            : TLSConfiguration.makeClientConfiguration()
        if side == .developer {
            configuration.certificateChain = chain
            configuration.privateKey = privateKey
        }
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        // Verification is Shunt's own (`PeerVerifier`, through the custom callback), which can say why.
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(try authority.serializeAsPEM().pemString.utf8), format: .pem)])
        configuration.applicationProtocols = alpn
        if let keyLogPath, !keyLogPath.isEmpty {
            let file = try KeyLogFile(path: keyLogPath)
            configuration.keyLogCallback = { line in file.append(line) }
        }
        self.context = try NIOSSLContext(configuration: configuration)
    }

    /// Adds TLS and the handshake gate to a new channel. Once the handshake is verified, `makeSession`
    /// builds the session for that peer, which is added behind TLS; the future then succeeds.
    /// `host` is the name dialled (developer side only: the agent certificate must name it).
    public func configure(_ channel: Channel, host: String? = nil,
                          makeSession: @escaping @Sendable (PeerIdentity) -> SessionHandler) -> EventLoopFuture<ShuntConnection> {
        channel.eventLoop.makeCompletedFuture {
            let outcome = VerificationOutcome()
            let verifier = self.verifier
            let expecting: PeerVerifier.Expecting = self.side == .agent ? .developer : .agent(host: host ?? "localhost")
            let callback: NIOSSLCustomVerificationCallback = { certificates, promise in
                let chain = certificates.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
                switch verifier.verify(chain, expecting: expecting) {
                case .success(let identity):
                    outcome.set(.success(identity))
                    promise.succeed(.certificateVerified)
                case .failure(let reason):
                    outcome.set(.failure(reason))
                    promise.succeed(.failed)
                }
            }
            let tls: ChannelHandler
            if self.side == .agent {
                tls = NIOSSLServerHandler(context: self.context, customVerificationCallback: callback)
            } else {
                let sni = host.flatMap { IPAddressText.octets($0) == nil ? $0 : nil }
                tls = try NIOSSLClientHandler(context: self.context, serverHostname: sni, customVerificationCallback: callback)
            }
            let promise = channel.eventLoop.makePromise(of: ShuntConnection.self)
            let gate = HandshakeGate(outcome: outcome, peer: self.side == .agent ? "client" : "agent", timeout: self.handshakeTimeout,
                                     promise: promise, makeSession: makeSession)
            try channel.pipeline.syncOperations.addHandler(tls)
            try channel.pipeline.syncOperations.addHandler(gate)
            return promise.futureResult
        }.flatMap { $0 }
    }
}

/// What the verification callback concluded, read by the gate once the handshake ends.
final class VerificationOutcome: Sendable {
    private let value = NIOLockedValueBox<Result<PeerIdentity, HandshakeRefusal.Reason>?>(nil)
    func set(_ result: Result<PeerIdentity, HandshakeRefusal.Reason>) { value.withLockedValue { $0 = result } }
    var result: Result<PeerIdentity, HandshakeRefusal.Reason>? { value.withLockedValue { $0 } }
}

/// Holds the pipeline until TLS is done and checked: ALPN must be `shunt/1` and the peer's certificate
/// verified; only then is the session added (no Shunt octet crosses an unverified connection).
/// A refusal fails the promise with a `HandshakeRefusal` and closes the connection.
final class HandshakeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let outcome: VerificationOutcome
    private let peer: String
    private let promise: EventLoopPromise<ShuntConnection>
    private let makeSession: @Sendable (PeerIdentity) -> SessionHandler
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var done = false

    init(outcome: VerificationOutcome, peer: String, timeout: TimeAmount, promise: EventLoopPromise<ShuntConnection>,
         makeSession: @escaping @Sendable (PeerIdentity) -> SessionHandler) {
        self.outcome = outcome
        self.peer = peer
        self.timeout = timeout
        self.promise = promise
        self.makeSession = makeSession
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let timeout = self.timeout
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (gate, context) = loopBound.value
            gate.refuse(context: context, HandshakeRefusal(.timeout(timeout.nanoseconds / 1_000_000), peer: gate.peer))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard !done, let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = tlsEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard negotiated == ShuntTLS.alpn else {
            return refuse(context: context, HandshakeRefusal(.wrongALPN(negotiated), peer: peer))
        }
        guard case .success(let identity)? = outcome.result else {
            return refuse(context: context, HandshakeRefusal(.noCertificate, peer: peer))
        }
        done = true
        timer?.cancel()
        let session = makeSession(identity)
        do {
            try context.pipeline.syncOperations.addHandler(session, position: .after(self))
        } catch {
            return refuse(context: context, HandshakeRefusal(.tls("cannot start the session: \(error)"), peer: peer))
        }
        promise.succeed(ShuntConnection(channel: context.channel, session: session, peer: identity))
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !done else {
            context.fireErrorCaught(error)
            return
        }
        refuse(context: context, HandshakeRefusal(classify(error), peer: peer))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            refuse(context: context, HandshakeRefusal(.tls("the connection closed during the handshake (the \(peer) may have refused it; its log says why)"), peer: peer))
        }
        context.fireChannelInactive()
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: HandshakeRefusal) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.fail(refusal)
        context.close(promise: nil)
    }

    /// Turns BoringSSL's error queue into one of the reasons a person can act on.
    private func classify(_ error: Error) -> HandshakeRefusal.Reason {
        if case .failure(let reason)? = outcome.result { return reason }
        let text = String(describing: error)
        for marker in ["WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "RECORD_TOO_LARGE", "UNEXPECTED_RECORD"] where text.contains(marker) {
            return .notTLS(marker)
        }
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") { return .noCertificate }
        if let range = text.range(of: #"(SSLV3|TLSV1)_ALERT_[A-Z_]+"#, options: .regularExpression) {
            return .refusedByPeer(alert: String(text[range]))
        }
        if text.contains("UNSUPPORTED_PROTOCOL") || text.contains("TLSV1_ALERT_PROTOCOL_VERSION") {
            return .tls("the peer does not speak TLS 1.3")
        }
        return .tls(text)
    }
}

/// Appends key log lines (NSS format) to `SSLKEYLOGFILE`, created 0600. Only for debugging.
final class KeyLogFile: Sendable {
    private let descriptor: Int32
    private let lock = NIOLock()

    init(path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CertificateFolderError("cannot open SSLKEYLOGFILE \(path): \(String(cString: strerror(errno)))") }
    }

    func append(_ line: ByteBuffer) {
        var bytes = Array(line.readableBytesView)
        bytes.append(0x0A)
        lock.withLock {
            _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        }
    }

    deinit { close(descriptor) }
}
