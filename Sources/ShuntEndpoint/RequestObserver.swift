import Foundation
import NIOCore
import ShuntSession

/// Sits on an HTTP stream, in front of the glue to the local socket, and watches the octets pass
/// both ways without changing them; when the stream closes it reports one `RequestLogLine`.
final class RequestObserver: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var request = HTTPHeadScanner(side: .request)
    private var response = HTTPHeadScanner(side: .response)
    private var bytesIn = 0
    private var bytesOut = 0
    private var reported = false
    private let opened: ContinuousClock.Instant
    private let start: Date
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
        let bytes = unwrapInboundIn(data)
        bytesIn += bytes.readableBytes
        request.scan(bytes.readableBytesView)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        bytesOut += bytes.readableBytes
        response.scan(bytes.readableBytesView)
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !reported {
            reported = true
            report(RequestLogLine(start: start, method: request.method, path: request.path, status: response.status,
                                  duration: ContinuousClock.now - opened, bytesIn: bytesIn, bytesOut: bytesOut,
                                  intercept: intercept, requestID: requestID, client: client))
        }
        context.fireChannelInactive()
    }
}
