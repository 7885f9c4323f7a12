import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import X509

/// A fresh certificate folder in a temporary directory, removed by `remove()`.
struct TemporaryCertificates {
    let folder: CertificateFolder
    let authority: CertificateAuthority

    init(developer: String = "alice", hosts: [String] = ["localhost", "127.0.0.1"]) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("shunt-certs-\(UUID().uuidString)")
        folder = CertificateFolder(url)
        authority = try folder.initialize(developer: developer, hosts: hosts)
    }

    func remove() { try? FileManager.default.removeItem(at: folder.url) }
}

/// Echoes stream bytes back (test streams).
final class StreamEcho: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { context.close(mode: .output, promise: nil) }
    }
}

/// Collects a stream's bytes until the peer's FIN.
final class StreamCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<[UInt8]>
    var bytes: [UInt8] = []
    init(done: EventLoopPromise<[UInt8]>) { self.done = done }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { bytes += Array(unwrapInboundIn(data).readableBytesView) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { done.succeed(bytes) }
    }
    func errorCaught(context: ChannelHandlerContext, error: Error) { done.fail(error) }
}

let echoStreams: SessionHandler.StreamInitializer = { channel in
    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(StreamEcho()) }
}

/// A TLS agent on 127.0.0.1 (an ephemeral port) that records each connection's outcome.
final class TestAgent: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let listener: Channel
    private let outcomes = NIOLockedValueBox<[EventLoopFuture<ShuntConnection>]>([])

    init(endpoint: ShuntTLSEndpoint, group: MultiThreadedEventLoopGroup) async throws {
        self.group = group
        let outcomes = self.outcomes
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = endpoint.configure(channel) { _ in
                    SessionHandler(configuration: SessionConfiguration(role: .server), inboundStreamInitializer: echoStreams)
                }
                outcomes.withLockedValue { $0.append(connection) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { listener.localAddress!.port! }

    /// The outcome of the first connection the agent accepted.
    func firstOutcome() async throws -> Result<ShuntConnection, Error> {
        for _ in 0..<500 {
            if let first = outcomes.withLockedValue({ $0.first }) {
                do { return .success(try await first.awaited("the handshake of the first connection")) } catch { return .failure(error) }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CertificateFolderError("the agent accepted no connection")
    }

    func stop() async {
        try? await listener.close()
    }
}

/// Connects a developer endpoint to `port` on 127.0.0.1, dialling `host` for the name check.
func connectDeveloper(_ endpoint: ShuntTLSEndpoint, port: Int, host: String = "127.0.0.1",
                      configuration: SessionConfiguration = SessionConfiguration(role: .client),
                      group: MultiThreadedEventLoopGroup) async throws -> ShuntConnection {
    let result = group.next().makePromise(of: ShuntConnection.self)
    let channel = try await ClientBootstrap(group: group)
        .channelInitializer { channel in
            endpoint.configure(channel, host: host) { _ in
                SessionHandler(configuration: configuration, inboundStreamInitializer: echoStreams)
            }.cascade(to: result)
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        .connect(host: "127.0.0.1", port: port).get()
    do {
        return try await result.futureResult.awaited()
    } catch {
        try? await channel.close()
        throw error
    }
}

extension Result {
    var refusal: HandshakeRefusal? {
        if case .failure(let error) = self { return error as? HandshakeRefusal }
        return nil
    }
}
