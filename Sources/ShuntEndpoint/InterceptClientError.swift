import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS

/// Why the laptop could not talk to the agent, in words a developer can act on. (A refusal by the
/// agent itself, such as INTERCEPT_CONFLICT, is an `InterceptCalls.Failure` instead.)
public enum InterceptClientError: Error, Sendable, CustomStringConvertible {
    /// No TCP connection: refused, unreachable, timed out, name not resolved.
    case unreachable(agent: String, reason: String)
    /// TLS or the certificate checks failed.
    case handshake(agent: String, HandshakeRefusal)
    /// The session ended (or failed to start) before the call was answered.
    case sessionEnded(agent: String, reason: String)
    /// The call's stream failed (reset, ended early).
    case callFailed(call: String, agent: String, reason: String)
    /// The answer is not a response of spec §11.
    case badResponse(call: String, agent: String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let agent, let reason):
            "cannot reach the agent at \(agent): \(reason)"
        case .handshake(let agent, let refusal):
            if case .refusedByPeer(let alert) = refusal.reason {
                "the agent refused our certificate: TLS alert \(alert) from \(agent) (the agent's log says why; is client.pem issued by the agent's CA?)"
            } else {
                "cannot connect to the agent at \(agent): \(refusal)"
            }
        case .sessionEnded(let agent, let reason):
            if let alert = Self.tlsAlert(in: reason) {
                // TLS 1.3: the agent checks our certificate after our side of the handshake is done,
                // so its refusal arrives as an alert on the first read.
                "the agent at \(agent) refused this laptop's certificate (TLS alert \(alert)); the agent's log says why: "
                    + "an expired client certificate, or one that another Shunt CA issued"
            } else {
                "the session with the agent at \(agent) ended: \(reason)"
            }
        case .callFailed(let call, let agent, let reason):
            "the agent at \(agent) did not answer \(call): \(reason)"
        case .badResponse(let call, let agent, let reason):
            "the agent at \(agent) answered \(call) with something that is not a Shunt response: \(reason)"
        }
    }

    /// `certificate unknown` from a BoringSSL error text such as `…SSLV3_ALERT_CERTIFICATE_UNKNOWN…`.
    static func tlsAlert(in text: String) -> String? {
        guard let range = text.range(of: "_ALERT_") else { return nil }
        let name = text[range.upperBound...].prefix { $0.isUppercase || $0 == "_" || $0.isNumber }
        guard !name.isEmpty else { return nil }
        return name.lowercased().replacingOccurrences(of: "_", with: " ")
    }

    /// "connection refused", "no answer within 5000 ms", ...: the cause of a failed TCP connect.
    static func describeConnectFailure(_ error: Error) -> String {
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return describeConnectFailure(first.error) }
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "cannot resolve \(error.host)" }
        }
        if let error = error as? IOError { return describe(errno: error.errnoCode) }
        if let error = error as? ChannelError, case .connectTimeout(let timeout) = error {
            return "no answer within \(timeout.nanoseconds / 1_000_000) ms"
        }
        return "\(error)"
    }

    static func describe(errno: Int32) -> String {
        let text = String(cString: strerror(errno))
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
