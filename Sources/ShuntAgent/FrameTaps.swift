import Foundation
import Logging
import NIOCore
import ShuntMatch
import ShuntSession
import ShuntWire
import ShuntWireTools

/// The agent's frame log (spec §11.1): every open session under its id (`alice#3`), and the taps
/// operators attached to watch them. Sessions get a frame observer only while at least one tap is
/// attached, so without taps a frame costs the session one nil check. Confined to the agent's loop.
final class FrameTaps: @unchecked Sendable {
    struct Limits: Sendable {
        /// Taps attached at once; one more is refused with `LIMIT_EXCEEDED`.
        var maxTaps = FrameTaps.defaultMaxTaps
        /// Octets each tap holds for a tapper that reads slowly (`TapQueue`).
        var queueLimit = TapQueue.defaultLimit
    }

    /// Each tap may hold up to `queueLimit`, so their number is bounded too.
    static let defaultMaxTaps = 4

    private struct Session {
        let id: String
        let peer: String
        let handler: SessionHandler
    }

    let eventLoop: EventLoop
    let operators: Set<String>
    let limits: Limits
    let logger: Logger
    private var sessions: [ObjectIdentifier: Session] = [:]
    private var taps: [ObjectIdentifier: TapWriter] = [:]
    /// Sessions that hold taps, with how many: never tapped themselves, since their frames carry
    /// records, and two taps watching each other's sessions would feed each other without end.
    private var tapping: [ObjectIdentifier: Int] = [:]
    private var sessionsOpened = 0

    init(eventLoop: EventLoop, operators: Set<String>, limits: Limits, logger: Logger) {
        self.eventLoop = eventLoop
        self.operators = operators
        self.limits = limits
        self.logger = logger
    }

    /// The id of a new session of `peer`: its name and a number unique in this agent.
    func nextSessionID(peer: String) -> String {
        eventLoop.preconditionInEventLoop()
        sessionsOpened += 1
        return "\(peer)#\(sessionsOpened)"
    }

    func sessionOpened(_ handler: SessionHandler, id: String, peer: String) {
        eventLoop.preconditionInEventLoop()
        let session = Session(id: id, peer: peer, handler: handler)
        sessions[ObjectIdentifier(handler)] = session
        if !taps.isEmpty, tapping[ObjectIdentifier(handler)] == nil { handler.frameObserver = observer(session) }
    }

    func sessionEnded(_ handler: SessionHandler) {
        eventLoop.preconditionInEventLoop()
        handler.frameObserver = nil
        sessions[ObjectIdentifier(handler)] = nil
    }

    func id(of handler: SessionHandler) -> String? { sessions[ObjectIdentifier(handler)]?.id }

    var attachedTaps: Int { taps.count }

    /// Serves a `tap` call on `stream` of `caller`'s session: reads the request, checks that the
    /// caller is an operator, answers the envelope, then streams records until the stream closes.
    func serve(_ stream: ShuntStreamChannel, caller: String, session: SessionHandler) -> EventLoopFuture<Void> {
        ControlCall.readRequest(stream).whenComplete { result in
            switch result {
            case .success(let body):
                self.open(stream, body: body, caller: caller, session: session)
            case .failure(let error):
                if let error = error as? ControlCallError, case .bodyTooLarge = error {
                    stream.reset(code: .enhanceYourCalm)
                } else {
                    stream.close(promise: nil)
                }
            }
        }
        return stream.eventLoop.makeSucceededVoidFuture()
    }

    private func open(_ stream: ShuntStreamChannel, body: ByteBuffer, caller: String, session: SessionHandler) {
        let request: TapCall.Request
        do {
            guard operators.contains(caller) else {
                throw InterceptCalls.Failure(.unauthorized, "\"\(caller)\" is not an operator of this agent; a tap needs a client certificate "
                                             + "whose name the agent lists with --operator (SHUNT_OPERATOR)")
            }
            do {
                request = try JSONDecoder().decode(TapCall.Request.self, from: Data(body.readableBytesView))
            } catch {
                throw InterceptCalls.Failure(.invalidRequest, "the request is not valid JSON for this call: \(error)")
            }
            if let problem = request.problem { throw InterceptCalls.Failure(.invalidRequest, problem) }
            guard taps.count < limits.maxTaps else {
                throw InterceptCalls.Failure(.limitExceeded, "this agent already serves \(taps.count) taps, its most (\(limits.maxTaps)); end one first")
            }
        } catch let failure as InterceptCalls.Failure {
            logger.notice("control call refused", metadata: [
                "call": .string(TapCall.name), "caller": .string(caller), "code": .string(failure.code), "error": .string(failure.message),
            ])
            stream.writeAndFlush(ByteBuffer(string: Self.encode(InterceptCalls.Response<InterceptCalls.Empty>(failure: failure))))
                .flatMap { stream.close(mode: .output) }.whenFailure { _ in stream.close(promise: nil) }
            return
        } catch {
            stream.close(promise: nil)
            return
        }
        let own = id(of: session) ?? caller
        let opened = TapCall.Opened(session: own, sessions: sessions.values.map(\.id).sorted())
        let writer = TapWriter(request: request, excluding: ObjectIdentifier(session), limit: limits.queueLimit)
        do {
            try stream.pipeline.syncOperations.addHandler(writer)
        } catch {
            stream.close(promise: nil)
            return
        }
        writer.offer(Self.encode(TapCall.Response(opened)))
        attach(writer)
        logger.info("tap started", metadata: [
            "operator": .string(own), "session": .string(request.session ?? "*"), "stream": .string(request.stream.map { "\($0)" } ?? "*"),
            "payload": "\(request.payload ?? 0)",
        ])
        let bound = NIOLoopBound(writer, eventLoop: stream.eventLoop)
        stream.closeFuture.whenComplete { _ in
            self.detach(bound.value)
            self.logger.info("tap ended", metadata: ["operator": .string(own), "dropped": "\(bound.value.droppedTotal)"])
        }
    }

    /// Ends every tap (the agent is shutting down): each stream gets FIN after what is queued.
    func endAll() {
        eventLoop.preconditionInEventLoop()
        for writer in taps.values { writer.finish() }
    }

    private func attach(_ writer: TapWriter) {
        taps[ObjectIdentifier(writer)] = writer
        tapping[writer.excluded, default: 0] += 1
        sessions[writer.excluded]?.handler.frameObserver = nil
        if taps.count == 1 {
            for (key, session) in sessions where tapping[key] == nil { session.handler.frameObserver = observer(session) }
        }
    }

    private func detach(_ writer: TapWriter) {
        guard taps.removeValue(forKey: ObjectIdentifier(writer)) != nil else { return }
        tapping[writer.excluded, default: 1] -= 1
        if tapping[writer.excluded] == 0 {
            tapping[writer.excluded] = nil
            if !taps.isEmpty, let session = sessions[writer.excluded] { session.handler.frameObserver = observer(session) }
        }
        if taps.isEmpty {
            for session in sessions.values { session.handler.frameObserver = nil }
        }
    }

    private func observer(_ session: Session) -> (SessionHandler.FrameDirection, Frame) -> Void {
        // The handler keeps this closure: it holds the session's names, not the session.
        let (id, peer) = (session.id, session.peer)
        return { [weak self] direction, frame in
            guard let self else { return }
            for writer in self.taps.values where writer.request.wants(session: id, peer: peer, stream: frame.streamID) {
                writer.offer(TapCall.frameLine(session: id, direction: direction, frame: frame,
                                               format: writer.request.format ?? .text, payload: writer.request.payload ?? 0))
            }
        }
    }

    private static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
            ?? #"{"ok":false,"error":{"code":"INTERNAL","message":"encoding failed"}}"#
    }
}

/// The last handler of a tap's stream: queues records (`TapQueue`) and writes them while the stream
/// is writable, so a tapper that reads slowly costs the agent at most the queue's limit.
final class TapWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Octets written to the stream at once (about one DATA frame).
    static let chunk = 16 << 10

    let request: TapCall.Request
    /// The tapper's own session, never tapped (`FrameTaps.tapping`).
    let excluded: ObjectIdentifier
    private var queue: TapQueue
    private var context: ChannelHandlerContext?
    private var drainScheduled = false
    private var finishing = false

    init(request: TapCall.Request, excluding excluded: ObjectIdentifier, limit: Int) {
        self.request = request
        self.excluded = excluded
        self.queue = TapQueue(limit: limit)
    }

    var droppedTotal: Int { queue.droppedTotal }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Queues a record and drains once the loop is done with the frames at hand, so that many
    /// records leave in one DATA frame.
    func offer(_ line: String) {
        guard context != nil, !finishing else { return }
        queue.push(line)
        scheduleDrain()
    }

    /// FIN after what is queued.
    func finish() {
        finishing = true
        scheduleDrain()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing is expected after the request's FIN.
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        drain()
        context.fireChannelWritabilityChanged()
    }

    private func scheduleDrain() {
        guard !drainScheduled, let context else { return }
        drainScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let writer = bound.value
            writer.drainScheduled = false
            writer.drain()
        }
    }

    private func drain() {
        guard let context else { return }
        while context.channel.isWritable, let buffer = queue.take(maxOctets: Self.chunk) {
            // Flushed one by one: the stream says whether it takes more only after a flush.
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        if finishing && queue.isEmpty {
            self.context = nil
            context.close(mode: .output, promise: nil)
        }
    }
}
