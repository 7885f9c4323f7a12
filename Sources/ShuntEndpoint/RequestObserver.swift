import Foundation
import NIOCore
import ShuntSession

/// Watches the octets of an HTTP stream pass both ways without changing them: as a handler in front of
/// the one that serves the stream (a stream glued to its own connection), or told by
/// `LocalStreamHandler` of what it reads and writes (a pooled connection: one pipeline step fewer on
/// every read and write of the stream). It reports one `RequestLogLine` per exchange: when the handler says an
/// exchange ended cleanly (`exchangeEnded`, on a stream kept alive for the next one, spec §10.2), and
/// when the stream closes with an exchange not yet reported. The n-th exchange of a stream (n ≥ 2)
/// is logged with the request id `<request-id>.<n>`.
final class RequestObserver: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var request = HTTPHeadScanner(side: .request)
    private var response = HTTPHeadScanner(side: .response)
    private var bytesIn = 0
    private var bytesOut = 0
    /// Exchanges reported so far.
    private var reported = 0
    private var opened: ContinuousClock.Instant
    private var start: Date
    private let intercept: String?
    private let requestID: String?
    private let client: String?
    private let report: @Sendable (RequestLogLine) -> Void

    init(opened: ContinuousClock.Instant, start: Date, intercept: String?, requestID: String?, client: String?,
         report: @escaping @Sendable (RequestLogLine) -> Void) {
        self.opened = opened
        self.start = start
        self.intercept = intercept
        self.requestID = requestID
        self.client = client
        self.report = report
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sawRequest(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        sawResponse(unwrapOutboundIn(data))
        context.write(data, promise: promise)
    }

    /// Octets the agent sent on the stream, on their way to the local service.
    func sawRequest(_ bytes: ByteBuffer) {
        if bytesIn == 0 && reported > 0 && bytes.readableBytes > 0 {
            // The first octets of a later exchange: its clock starts now.
            opened = .now
            start = Date()
        }
        bytesIn += bytes.readableBytes
        request.scan(bytes.readableBytesView)
    }

    /// Octets of the local service's answer, on their way to the agent.
    func sawResponse(_ bytes: ByteBuffer) {
        bytesOut += bytes.readableBytes
        response.scan(bytes.readableBytesView)
    }

    /// Why the exchange in progress was not served (the local service could not be reached): said on
    /// its line, which is reported when the stream closes.
    var failure: String?

    /// The exchange in progress ended and the stream waits for the next: it is reported now.
    func exchangeEnded() {
        reportExchange()
        request.reset()
        response.reset()
        bytesIn = 0
        bytesOut = 0
    }

    func channelInactive(context: ChannelHandlerContext) {
        streamClosed()
        context.fireChannelInactive()
    }

    /// The stream closed. One that carried nothing is reported once; a kept one whose last exchange
    /// was reported already is not reported again.
    func streamClosed() {
        if reported == 0 || bytesIn > 0 || bytesOut > 0 { reportExchange() }
    }

    private func reportExchange() {
        reported += 1
        let id = reported == 1 ? requestID : requestID.map { "\($0).\(reported)" }
        var line = RequestLogLine(start: start, method: request.method, path: request.path, status: response.status,
                                  duration: ContinuousClock.now - opened, bytesIn: bytesIn, bytesOut: bytesOut,
                                  intercept: intercept, requestID: id, client: client)
        line.failure = failure
        failure = nil
        report(line)
    }
}
