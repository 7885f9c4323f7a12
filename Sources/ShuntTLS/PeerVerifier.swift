import Foundation
import SwiftASN1
import X509

/// Who is on the other end of a verified Shunt connection.
public struct PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The developer (client certificate common name), or the agent's certificate name.
    public var name: String
    /// The full subject, e.g. `O=Shunt,CN=alice`.
    public var subject: String
    public var notValidAfter: Date
    /// The peer's verified certificate (nil for this side's own identity).
    public var certificate: Certificate?

    public init(name: String, subject: String, notValidAfter: Date, certificate: Certificate? = nil) {
        self.name = name
        self.subject = subject
        self.notValidAfter = notValidAfter
        self.certificate = certificate
    }

    public var description: String { name }
}

/// Why a TLS handshake was refused, precisely enough for the person reading the error.
public struct HandshakeRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Error, Hashable, Sendable {
        /// The peer did not speak TLS at all (plaintext, HTTP, a port scanner).
        case notTLS(String)
        /// The peer presented no certificate.
        case noCertificate
        /// The certificate is not signed by this side's Shunt CA.
        case unknownAuthority(issuer: String, expected: String)
        case expired(subject: String, notValidAfter: Date)
        case notYetValid(subject: String, notValidBefore: Date)
        /// A server certificate that does not name the host dialled.
        case wrongName(host: String, names: [String])
        /// A certificate for the wrong purpose (a server certificate used as a client's, …).
        case wrongUsage(subject: String, needed: String)
        /// The peer did not agree on ALPN `shunt/1`.
        case wrongALPN(String?)
        /// The peer refused our certificate (it sent an alert); its own log says why.
        case refusedByPeer(alert: String)
        /// The handshake did not finish within this many milliseconds.
        case timeout(Int64)
        /// TLS version or anything else BoringSSL reported.
        case tls(String)
    }

    public var reason: Reason
    /// A short, stable name for the reason (`unknown_ca`, `expired`, …): a metric label, a log field.
    public var label: String {
        switch reason {
        case .notTLS: "not_tls"
        case .noCertificate: "no_certificate"
        case .unknownAuthority: "unknown_ca"
        case .expired: "expired"
        case .notYetValid: "not_yet_valid"
        case .wrongName: "wrong_name"
        case .wrongUsage: "wrong_usage"
        case .wrongALPN: "wrong_alpn"
        case .refusedByPeer: "refused_by_peer"
        case .timeout: "timeout"
        case .tls: "tls"
        }
    }
    /// "agent" or "client": whose point of view the message takes.
    public var peer: String

    public init(_ reason: Reason, peer: String) {
        self.reason = reason
        self.peer = peer
    }

    public var description: String {
        switch reason {
        case .notTLS(let detail):
            return "the \(peer) is not speaking TLS (plaintext or another protocol on this port): \(detail)"
        case .noCertificate:
            return "the \(peer) presented no certificate; Shunt requires mutual TLS (run `shunt certs init`, or pass --certs DIR)"
        case .unknownAuthority(let issuer, let expected):
            return "the \(peer)'s certificate is signed by \"\(issuer)\", not by this side's CA \"\(expected)\" (unknown CA: the two ends use different `shunt certs` folders)"
        case .expired(let subject, let date):
            return "the \(peer)'s certificate \"\(subject)\" expired on \(Self.format(date)); issue a new one with `shunt certs`"
        case .notYetValid(let subject, let date):
            return "the \(peer)'s certificate \"\(subject)\" is not valid before \(Self.format(date)) (is a clock wrong?)"
        case .wrongName(let host, let names):
            return "the \(peer)'s certificate is for \(names.isEmpty ? "no host" : names.joined(separator: ", ")), not \(host); issue the agent certificate with --host \(host)"
        case .wrongUsage(let subject, let needed):
            return "the \(peer)'s certificate \"\(subject)\" is not a \(needed) certificate"
        case .wrongALPN(let protocolName):
            return "the \(peer) did not agree on ALPN \(ShuntTLS.alpn) (\(protocolName.map { "it chose \($0)" } ?? "none negotiated")): it is not a Shunt \(peer == "agent" ? "agent" : "client") of this version"
        case .refusedByPeer(let alert):
            return Self.describe(alert: alert, peer: peer)
        case .timeout(let milliseconds):
            return "the \(peer) did not complete the TLS handshake within \(milliseconds) ms (is it a Shunt \(peer), and is the port right?)"
        case .tls(let detail):
            return "TLS handshake with the \(peer) failed: \(detail)"
        }
    }

    /// An alert from the other side, in words: what it objected to depends on the alert (RFC 8446
    /// §6.2), and only some alerts are about this side's certificate.
    static func describe(alert: String, peer: String) -> String {
        let named = "TLS alert \(alert)"
        if alert.hasSuffix("NO_APPLICATION_PROTOCOL") {
            return "the \(peer) refused ALPN \(ShuntTLS.alpn) (\(named)): it is not a Shunt \(peer), or speaks another protocol version"
        }
        if alert.hasSuffix("CERTIFICATE_EXPIRED") {
            return "the \(peer) refused this side's certificate as expired (\(named)); issue a new one with `shunt certs`"
        }
        let certificateAlerts = ["UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "BAD_CERTIFICATE", "UNSUPPORTED_CERTIFICATE",
                                 "CERTIFICATE_REVOKED", "CERTIFICATE_REQUIRED", "ACCESS_DENIED"]
        if certificateAlerts.contains(where: { alert.hasSuffix($0) }) {
            return "the \(peer) refused this side's certificate (\(named)): it trusts another CA, or the certificate is not for this use; the \(peer)'s log says which"
        }
        if alert.hasSuffix("PROTOCOL_VERSION") {
            return "the \(peer) refused the TLS version (\(named)); Shunt speaks TLS 1.3 only"
        }
        if alert.hasSuffix("HANDSHAKE_FAILURE") || alert.hasSuffix("INSUFFICIENT_SECURITY") {
            return "the \(peer) found no TLS 1.3 parameters in common with this side (\(named)): is it a Shunt \(peer)?"
        }
        return "the \(peer) ended the TLS handshake (\(named)); the \(peer)'s log says why"
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Checks a peer's certificate chain against one Shunt CA: signature, validity, purpose and, for the
/// agent, the host name. Pure: the time is a parameter.
public struct PeerVerifier: Sendable {
    public enum Expecting: Sendable, Hashable {
        /// The agent's server certificate, which must name `host`.
        case agent(host: String)
        /// A developer's client certificate.
        case developer
    }

    public let authority: Certificate

    public init(authority: Certificate) {
        self.authority = authority
    }

    public func verify(_ chain: [Certificate], expecting: Expecting, now: Date = Date()) -> Result<PeerIdentity, HandshakeRefusal.Reason> {
        guard let leaf = chain.first else { return .failure(.noCertificate) }
        let subject = leaf.subject.description
        guard leaf.issuer == authority.subject, authority.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            return .failure(.unknownAuthority(issuer: Self.commonName(leaf.issuer) ?? leaf.issuer.description,
                                              expected: Self.commonName(authority.subject) ?? authority.subject.description))
        }
        if now > leaf.notValidAfter { return .failure(.expired(subject: subject, notValidAfter: leaf.notValidAfter)) }
        if now < leaf.notValidBefore { return .failure(.notYetValid(subject: subject, notValidBefore: leaf.notValidBefore)) }
        if now > authority.notValidAfter {
            return .failure(.expired(subject: authority.subject.description, notValidAfter: authority.notValidAfter))
        }
        let usages = (try? leaf.extensions.extendedKeyUsage).flatMap { $0 }
        switch expecting {
        case .agent(let host):
            guard usages?.contains(.serverAuth) == true else { return .failure(.wrongUsage(subject: subject, needed: "server (agent)")) }
            let names = Self.alternativeNames(leaf)
            guard Self.matches(host: host, names: names) else { return .failure(.wrongName(host: host, names: names)) }
        case .developer:
            guard usages?.contains(.clientAuth) == true else { return .failure(.wrongUsage(subject: subject, needed: "client (developer)")) }
        }
        let name = Self.commonName(leaf.subject) ?? subject
        return .success(PeerIdentity(name: name, subject: subject, notValidAfter: leaf.notValidAfter, certificate: leaf))
    }

    public static func commonName(_ name: DistinguishedName) -> String? {
        for rdn in name {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value) ?? attribute.value.description
            }
        }
        return nil
    }

    static func alternativeNames(_ certificate: Certificate) -> [String] {
        guard let names = (try? certificate.extensions.subjectAlternativeNames).flatMap({ $0 }) else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets): return IPAddressText.text(Array(octets.bytes))
            default: return nil
            }
        }
    }

    static func matches(host: String, names: [String]) -> Bool {
        if let octets = IPAddressText.octets(host) {
            return names.contains { IPAddressText.octets($0) == octets }
        }
        let lowered = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return names.contains { $0.lowercased() == lowered }
    }
}

extension IPAddressText {
    static func text(_ octets: [UInt8]) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = octets.count == 4 ? AF_INET : octets.count == 16 ? AF_INET6 : -1
        guard family != -1 else { return nil }
        let ok = octets.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
