import NIOCore
import ShuntWire

/// Control calls (spec §11): a CONTROL stream whose opener sends a request body and FIN, and whose
/// callee answers with a response body and FIN. Bodies are JSON, at most `maxBodySize` octets; what
/// they mean is the caller's and callee's business (typed messages live with the intercepts).
public enum ControlCall {
    /// The largest request or response body (spec §11: 1 MiB).
    public static let maxBodySize = 1 << 20

    /// Opens a CONTROL stream for `call`, sends `body` and FIN, and completes with the response body.
    /// Fails with `ControlCallError` if the stream is reset, ends early, or the answer is too large.
    public static func perform(_ call: String, body: ByteBuffer, on session: SessionHandler, eventLoop: EventLoop,
                               maxResponse: Int = maxBodySize) -> EventLoopFuture<ByteBuffer> {
        let response = eventLoop.makePromise(of: ByteBuffer.self)
        eventLoop.execute {
            session.openStream(kind: .control, metadata: StreamMetadata([(key: "call", value: call)])) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(BodyCollector(limit: maxResponse, done: response))
                    stream.writeAndFlush(body).flatMap { stream.close(mode: .output) }.whenFailure { response.fail($0) }
                }
            }.whenFailure { response.fail($0) }
        }
        return response.futureResult
    }

    /// Serves CONTROL streams: collects each request body, hands it with the call's name to `answer`,
    /// writes what it returns and FIN. A body over `maxBodySize` resets the stream with
    /// ENHANCE_YOUR_CALM; a stream without `call` metadata is answered by `answer` with call "".
    public static func serve(_ stream: ShuntStreamChannel,
                             answer: @escaping @Sendable (_ call: String, _ body: ByteBuffer) -> EventLoopFuture<ByteBuffer>) -> EventLoopFuture<Void> {
        let call = stream.metadata.string("call") ?? ""
        let request = stream.eventLoop.makePromise(of: ByteBuffer.self)
        request.futureResult.flatMap { body in answer(call, body) }
            .flatMap { response in stream.writeAndFlush(response).flatMap { stream.close(mode: .output) } }
            .whenFailure { error in
                if let error = error as? ControlCallError, case .bodyTooLarge = error {
                    stream.reset(code: .enhanceYourCalm)
                } else {
                    stream.close(promise: nil)
                }
            }
        return stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandler(BodyCollector(limit: maxBodySize, done: request))
        }
    }
}

extension ControlCall {
    /// The request body of a CONTROL stream the peer opened, once its FIN arrives: for a call whose
    /// answer is not one body (`tap` streams its answer), served by handlers added after this.
    /// Fails like `serve` for a body over `maxBodySize` or a stream that ends early.
    public static func readRequest(_ stream: ShuntStreamChannel) -> EventLoopFuture<ByteBuffer> {
        let request = stream.eventLoop.makePromise(of: ByteBuffer.self)
        do {
            try stream.pipeline.syncOperations.addHandler(BodyCollector(limit: maxBodySize, done: request))
        } catch {
            request.fail(error)
        }
        return request.futureResult
    }
}

public enum ControlCallError: Error, Hashable, Sendable, CustomStringConvertible {
    case bodyTooLarge(limit: Int)
    case endedEarly

    public var description: String {
        switch self {
        case .bodyTooLarge(let limit): "a control call body larger than \(limit) octets"
        case .endedEarly: "the control stream ended before its FIN"
        }
    }
}

/// Collects a stream's inbound octets up to `limit` until the peer's FIN.
final class BodyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let limit: Int
    private let done: EventLoopPromise<ByteBuffer>
    private var body = ByteBuffer()
    private var finished = false

    init(limit: Int, done: EventLoopPromise<ByteBuffer>) {
        self.limit = limit
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        var bytes = unwrapInboundIn(data)
        guard body.readableBytes + bytes.readableBytes <= limit else {
            finish(.failure(ControlCallError.bodyTooLarge(limit: limit)))
            return
        }
        body.writeBuffer(&bytes)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { finish(.success(body)) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ControlCallError.endedEarly))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<ByteBuffer, Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(result)
    }
}
