import NIOCore
import NIOHTTP1

/// The agent's admin port: for Kubernetes probes `GET /healthz` (the process serves) and
/// `GET /readyz` (the edge and the tunnel listen), each `200 ok` or `503` with the reason; for
/// Prometheus `GET /metrics` (see `AgentMetrics`).
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let ready: @Sendable () -> String?
    let metrics: @Sendable () -> String
    private var head: HTTPRequestHead?

    init(ready: @escaping @Sendable () -> String?, metrics: @escaping @Sendable () -> String) {
        self.ready = ready
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            var contentType = "text/plain; charset=utf-8"
            let (status, text): (HTTPResponseStatus, String)
            switch (head.method, head.uri.split(separator: "?").first.map(String.init) ?? "") {
            case (.GET, "/healthz"):
                (status, text) = (.ok, "ok")
            case (.GET, "/readyz"):
                if let reason = ready() { (status, text) = (.serviceUnavailable, reason) } else { (status, text) = (.ok, "ok") }
            case (.GET, "/metrics"):
                contentType = "text/plain; version=0.0.4; charset=utf-8"
                (status, text) = (.ok, metrics())
            case (.GET, _):
                (status, text) = (.notFound, "the admin port serves /healthz, /readyz and /metrics")
            default:
                (status, text) = (.methodNotAllowed, "GET only")
            }
            let body = text.hasSuffix("\n") ? text : text + "\n"
            let headers = HTTPHeaders([("content-type", contentType), ("content-length", "\(body.utf8.count)")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
