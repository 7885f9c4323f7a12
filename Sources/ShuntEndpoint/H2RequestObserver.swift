import Foundation
import NIOCore
import ShuntSession

/// Sits on an HTTP2 stream (spec §10), in front of the glue to the local service, and reports one
/// `RequestLogLine` per HTTP/2 stream that crossed it (`H2ExchangeWatcher`), without changing a byte.
final class H2RequestObserver: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var watcher = H2ExchangeWatcher()
    private let intercept: String?
    private let client: String?
    private let report: @Sendable (RequestLogLine) -> Void

    init(intercept: String?, client: String?, report: @escaping @Sendable (RequestLogLine) -> Void) {
        self.intercept = intercept
        self.client = client
        self.report = report
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        publish(watcher.feed(unwrapInboundIn(data).readableBytesView, direction: .request, at: .now))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        publish(watcher.feed(unwrapOutboundIn(data).readableBytesView, direction: .response, at: .now))
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        publish(watcher.finish(at: .now))
        context.fireChannelInactive()
    }

    private func publish(_ exchanges: [H2ExchangeWatcher.Exchange]) {
        guard !exchanges.isEmpty else { return }
        let now = ContinuousClock.now
        let wall = Date()
        for exchange in exchanges {
            let age = now - exchange.opened
            let seconds = age.inSeconds
            var line = RequestLogLine(start: wall.addingTimeInterval(-seconds), method: exchange.method, path: exchange.path,
                                      status: exchange.status, duration: exchange.duration, bytesIn: exchange.bytesIn,
                                      bytesOut: exchange.bytesOut, intercept: intercept, requestID: nil, client: client)
            line.grpcStatus = exchange.grpcStatus
            line.reset = exchange.resetCode.map(Self.errorName)
            report(line)
        }
    }

    /// RFC 9113 §7 error code names.
    static func errorName(_ code: UInt32) -> String {
        let names = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                     "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                     "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
        return Int(code) < names.count ? names[Int(code)] : "0x" + String(code, radix: 16)
    }
}
