import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS

/// `shunt relay`: raw TCP through one Shunt session (TLS, mutual authentication), the path a global
/// intercept's bytes take. For benchmarks (`tools/bench/`) and for checking a link by hand.
struct Relay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relay raw TCP through a Shunt session (benchmarks and link checks).",
        discussion: """
            shunt relay agent --listen 127.0.0.1:15202 --to 127.0.0.1:5201
            shunt relay client --agent 127.0.0.1:15202 --listen 127.0.0.1:25202
            Each connection to the client's --listen port becomes one stream, which the agent joins to \
            a new connection to --to. Backpressure holds end to end.
            """,
        subcommands: [AgentSide.self, ClientSide.self]
    )

    struct AgentSide: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "agent", abstract: "Accept sessions; join each stream to --to.")
        @OptionGroup var certs: Certs.Folder
        @Option(help: "Where sessions arrive (HOST:PORT).") var listen: String
        @Option(help: "Where each stream goes (HOST:PORT).") var to: String
        @Option(help: "Concurrent streams a client may open.") var maxStreams: UInt32 = 1_000
        @Flag(help: "Compress what the agent sends on each stream (DEFLATE, spec §12), if the client can decompress.") var compress = false

        func run() throws {
            let target = try HostPort(parsing: to)
            let compress = self.compress
            let maxStreams = self.maxStreams
            let address = try HostPort(parsing: listen)
            let endpoint = try ShuntTLSEndpoint.agent(folder: certs.folder)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let streams: SessionHandler.StreamInitializer = { stream in
                ClientBootstrap(group: stream.eventLoop)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .connect(host: target.host, port: target.port)
                    .flatMapThrowing { socket in
                        if compress { try stream.enableCompression() }
                        let (streamSide, socketSide) = GlueHandler.matchedPair()
                        try stream.pipeline.syncOperations.addHandler(streamSide)
                        try socket.pipeline.syncOperations.addHandler(socketSide)
                    }
            }
            let listener = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    endpoint.configure(channel) { peer in
                        FileHandle.standardError.write(Data("shunt relay agent: session from \(peer.name)\n".utf8))
                        var configuration = SessionConfiguration(role: .server)
                        configuration.settings.initialMaxStreams = maxStreams
                        return SessionHandler(configuration: configuration, inboundStreamInitializer: streams)
                    }.whenFailure { error in
                        FileHandle.standardError.write(Data("shunt relay agent: refused a connection: \(error)\n".utf8))
                    }
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .bind(host: address.host, port: address.port).wait()
            FileHandle.standardError.write(Data("shunt relay agent: listening on \(listener.localAddress!), streams to \(to)\n".utf8))
            try listener.closeFuture.wait()
        }
    }

    struct ClientSide: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "client", abstract: "Connect to an agent; turn each local connection into a stream.")
        @OptionGroup var certs: Certs.Folder
        @Option(help: "The agent (HOST:PORT).") var agent: String
        @Option(help: "Local port to accept connections on (HOST:PORT).") var listen: String
        @Flag(help: "Compress what the client sends on each stream (DEFLATE, spec §12), if the agent can decompress.") var compress = false

        func run() throws {
            let compress = self.compress
            let agentAddress = try HostPort(parsing: agent)
            let address = try HostPort(parsing: listen)
            let endpoint = try ShuntTLSEndpoint.developer(folder: certs.folder)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let loop = group.next()
            let connected = loop.makePromise(of: ShuntConnection.self)
            _ = try ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    endpoint.configure(channel, host: agentAddress.host) { _ in
                        SessionHandler(configuration: SessionConfiguration(role: .client), inboundStreamInitializer: { $0.close() })
                    }.cascade(to: connected)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .connect(host: agentAddress.host, port: agentAddress.port).wait()
            let connection: ShuntConnection
            do {
                connection = try connected.futureResult.wait()
            } catch {
                throw ValidationError("cannot connect to the agent at \(agent): \(error)")
            }
            let session = connection.session
            _ = try loop.flatSubmit { session.ready(on: loop) }.wait()
            let listener = try ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.autoRead, value: false)
                .childChannelInitializer { socket in
                    session.openStream(kind: .tcp) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            if compress { try stream.enableCompression() }
                            let (streamSide, socketSide) = GlueHandler.matchedPair()
                            try stream.pipeline.syncOperations.addHandler(streamSide)
                            try socket.pipeline.syncOperations.addHandler(socketSide)
                        }
                    }.flatMap { _ in socket.setOption(.autoRead, value: true) }
                }
                .bind(host: address.host, port: address.port).wait()
            FileHandle.standardError.write(Data("shunt relay client: \(listener.localAddress!) → session to \(agent) as \(endpoint.identity.name)\n".utf8))
            try connection.channel.closeFuture.wait()
            throw ValidationError("the session to \(agent) ended")
        }
    }
}

