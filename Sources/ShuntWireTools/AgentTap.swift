import Foundation
import NIOCore
import ShuntMatch
import ShuntSession
import ShuntTLS
import ShuntWire

/// `shunt-wire tap`: a session to an agent, as an operator, with one `tap` call (spec §11.1) whose
/// records arrive until `stop`, the agent ending the tap, or the session ending.
public final class AgentTap: Sendable {
    /// How a tap ended.
    public enum End: Hashable, Sendable, CustomStringConvertible {
        /// `stop` was called.
        case stopped
        /// The agent ended the tap (FIN): it is shutting down.
        case endedByAgent
        /// The stream was reset, or the session ended; why.
        case failed(String)

        public var description: String {
            switch self {
            case .stopped: "stopped"
            case .endedByAgent: "the agent ended the tap (it is shutting down)"
            case .failed(let why): why
            }
        }
    }

    public let connection: ShuntConnection
    public let opened: TapCall.Opened
    /// Succeeds once the tap is over, with how.
    public let ended: EventLoopFuture<End>
    private let stream: Channel

    private init(connection: ShuntConnection, opened: TapCall.Opened, ended: EventLoopFuture<End>, stream: Channel) {
        self.connection = connection
        self.opened = opened
        self.ended = ended
        self.stream = stream
    }

    /// Connects to the agent at `host`:`port` with `endpoint`'s certificate and starts a tap.
    /// `onRecord` is called on the session's loop for each record, in order. Fails with an
    /// `AgentProbe.Failure` saying which stage went wrong: connect, TLS handshake, HELLO, or the
    /// call itself (`UNAUTHORIZED` for a certificate the agent does not list as an operator).
    public static func open(endpoint: ShuntTLSEndpoint, host: String, port: Int, request: TapCall.Request, group: EventLoopGroup,
                            deadline: TimeAmount = AgentProbe.Options.defaultDeadline,
                            onRecord: @escaping @Sendable (TapCall.Record) -> Void) async throws -> AgentTap {
        let loop = group.next()
        let connection = try await AgentProbe.dial(endpoint: endpoint, host: host, port: port, loop: loop, deadline: deadline) { _ in
            SessionHandler(configuration: SessionConfiguration(role: .client), inboundStreamInitializer: { $0.close() })
        }
        let session = connection.session
        do {
            _ = try await loop.flatSubmit { session.ready(on: loop) }.get()
        } catch {
            connection.channel.close(promise: nil)
            throw AgentProbe.Failure(stage: "HELLO", message: "\(error)")
        }
        let opened = loop.makePromise(of: TapCall.Opened.self)
        let ended = loop.makePromise(of: End.self)
        let body = ByteBuffer(bytes: try JSONEncoder().encode(request))
        let stream: Channel
        do {
            stream = try await loop.flatSubmit {
                session.ended(on: loop).whenSuccess { error in
                    let why = error.map { "the session ended: \($0)" } ?? "the session ended"
                    opened.fail(AgentProbe.Failure(stage: "tap", message: why))
                    ended.succeed(.failed(why))
                }
                return session.openStream(kind: .control, metadata: StreamMetadata([(key: "call", value: TapCall.name)])) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandler(TapReader(opened: opened, ended: ended, onRecord: onRecord))
                        stream.writeAndFlush(body).flatMap { stream.close(mode: .output) }.whenFailure { opened.fail($0) }
                    }
                }
            }.get()
        } catch {
            connection.channel.close(promise: nil)
            throw AgentProbe.Failure(stage: "tap", message: "cannot open the CONTROL stream: \(error)")
        }
        let timer = loop.scheduleTask(in: deadline) {
            opened.fail(AgentProbe.Failure(stage: "tap", message: "no answer to the tap call within \(deadline.nanoseconds / 1_000_000_000) s"))
        }
        defer { timer.cancel() }
        do {
            let result = try await opened.futureResult.get()
            return AgentTap(connection: connection, opened: result, ended: ended.futureResult, stream: stream)
        } catch let failure as InterceptCalls.Failure {
            await close(connection)
            throw AgentProbe.Failure(stage: "tap", message: "the agent refused the tap: \(failure)")
        } catch let failure as AgentProbe.Failure {
            await close(connection)
            throw failure
        } catch {
            await close(connection)
            throw AgentProbe.Failure(stage: "tap", message: "\(error)")
        }
    }

    /// Whether records are read: off, the agent's stream stops at its window and its queue fills
    /// (then drops, and says how many); for tests and for a paused display.
    public func setReading(_ reading: Bool) async throws {
        try await stream.setOption(ChannelOptions.autoRead, value: reading).get()
        if reading { stream.read() }
    }

    /// Ends the tap (RESET CANCEL on its stream) and the session (GOAWAY), and waits for the
    /// connection to close.
    public func stop() async {
        try? await stream.close()
        await Self.close(connection)
    }

    private static func close(_ connection: ShuntConnection) async {
        let session = connection.session
        try? await connection.channel.eventLoop.submit {
            session.goAway(code: .noError, debug: "shunt-wire tap done", graceful: false)
        }.get()
        _ = try? await connection.channel.closeFuture.get()
    }
}

/// Splits a tap's stream into lines: the response envelope first, then records.
final class TapReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let opened: EventLoopPromise<TapCall.Opened>
    private let ended: EventLoopPromise<AgentTap.End>
    private let onRecord: @Sendable (TapCall.Record) -> Void
    private var buffer = ByteBuffer()
    private var isOpen = false
    private var stopped = false

    init(opened: EventLoopPromise<TapCall.Opened>, ended: EventLoopPromise<AgentTap.End>, onRecord: @escaping @Sendable (TapCall.Record) -> Void) {
        self.opened = opened
        self.ended = ended
        self.onRecord = onRecord
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer.readString(length: newline - buffer.readerIndex)!
            buffer.moveReaderIndex(forwardBy: 1)
            handle(line)
        }
        buffer.discardReadBytes()
        if buffer.readableBytes > TapCall.maxLineLength {
            finish(.failed("a tap record longer than \(TapCall.maxLineLength) octets"))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            // A refusal is one body without a newline, as every call's answer.
            if buffer.readableBytes > 0, let line = buffer.readString(length: buffer.readableBytes) { handle(line) }
            finish(.endedByAgent)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failed("\(error)"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.stopped)
        context.fireChannelInactive()
    }

    private func handle(_ line: String) {
        guard isOpen else {
            do {
                let response = try JSONDecoder().decode(TapCall.Response.self, from: Data(line.utf8))
                opened.succeed(try response.get())
                isOpen = true
            } catch {
                opened.fail(error)
            }
            return
        }
        if let record = TapCall.Record(line: line) { onRecord(record) }
    }

    private func finish(_ end: AgentTap.End) {
        guard !stopped else { return }
        stopped = true
        opened.fail(AgentProbe.Failure(stage: "tap", message: "the tap stream ended before the agent answered: \(end)"))
        ended.succeed(end)
    }
}
