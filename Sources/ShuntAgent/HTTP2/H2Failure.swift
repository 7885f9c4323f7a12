import NIOCore
import NIOHPACK
import NIOHTTP2

/// What the edge sends a client whose HTTP/2 stream lost its upstream (the app or a laptop) before
/// the response ended. A gRPC caller gets status UNAVAILABLE (14) with the reason, as trailers-only
/// or as trailers after the response began, so it fails at once with a code it may retry on; any
/// other caller gets 502 with the reason as text, or, once the response began, RST_STREAM
/// INTERNAL_ERROR (a truncated response must not look complete).
public enum H2Failure {
    public static let grpcUnavailable = "14"

    public static func answer(grpc: Bool, responseStarted: Bool, status: Int = 502, message: String) -> [HTTP2Frame.FramePayload] {
        if grpc {
            var headers = HPACKHeaders()
            if !responseStarted {
                headers.add(name: ":status", value: "200")
                headers.add(name: "content-type", value: "application/grpc")
            }
            headers.add(name: "grpc-status", value: grpcUnavailable)
            headers.add(name: "grpc-message", value: percentEncoded(message))
            return [.headers(.init(headers: headers, endStream: true))]
        }
        if responseStarted {
            return [.rstStream(.internalError)]
        }
        let body = ByteBuffer(string: message + "\n")
        let headers: HPACKHeaders = [
            ":status": String(status),
            "content-type": "text/plain; charset=utf-8",
            "content-length": String(body.readableBytes),
        ]
        return [.headers(.init(headers: headers, endStream: false)), .data(.init(data: .byteBuffer(body), endStream: true))]
    }

    /// The gRPC `grpc-message` encoding: octets outside printable ASCII, and `%`, as `%XX`.
    public static func percentEncoded(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                result.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0x0F)]))
            }
        }
        return result
    }
}
