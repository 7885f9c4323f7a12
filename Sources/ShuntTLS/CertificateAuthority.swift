import Crypto
import Foundation
import SwiftASN1
import X509

/// The file names of a Shunt certificate folder (`shunt certs init`).
public enum CertificateFile: String, CaseIterable, Sendable {
    case ca = "ca.pem"
    case caKey = "ca-key.pem"
    case agent = "agent.pem"
    case agentKey = "agent-key.pem"
    case client = "client.pem"
    case clientKey = "client-key.pem"
}

/// Why a certificate folder could not be made or used. Never carries key material.
public struct CertificateFolderError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One certificate and its private key (P-256).
public struct IssuedCertificate {
    public var certificate: Certificate
    public var privateKey: P256.Signing.PrivateKey

    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

/// A Shunt certificate authority: it signs the agent's server certificate and one client certificate
/// per developer. The client certificate's subject common name is the developer's identity, which the
/// agent records as the owner of an intercept (spec §14).
public struct CertificateAuthority {
    public var root: IssuedCertificate

    /// How long what `CertificateAuthority` issues is valid.
    public struct Validity: Sendable {
        public var authority: TimeInterval = 10 * 365 * 86_400
        public var leaf: TimeInterval = 825 * 86_400
        /// Backdating, for clocks that are a little behind.
        public var backdate: TimeInterval = 300
        public init() {}
    }

    /// "Shunt CA (alice 2026-11-25 3f9a1c)".
    static func commonName(label: String, key: P256.Signing.PublicKey, now: Date) -> String {
        let digest = SHA256.hash(data: key.rawRepresentation).prefix(3).map { String(format: "%02x", $0) }.joined()
        let day = now.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
        return "Shunt CA (\(label) \(day) \(digest))"
    }

    public init(root: IssuedCertificate) {
        self.root = root
    }

    /// A new CA named "Shunt CA (`label` DATE KEYID)": the day it was made and the first six hex
    /// digits of its key's SHA-256, so that two CAs made for one developer (two `shunt certs init`)
    /// do not share a name and an unknown-CA refusal says which is which.
    public static func create(label: String, validity: Validity = Validity(), now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Shunt")
            CommonName(Self.commonName(label: label, key: key.publicKey, now: now))
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now - validity.backdate,
            notValidAfter: now + validity.authority,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return CertificateAuthority(root: IssuedCertificate(certificate: certificate, privateKey: key))
    }

    /// The agent's server certificate, valid for `hosts` (DNS names and IP addresses).
    public func issueAgent(hosts: [String], validity: Validity = Validity(), now: Date = Date(),
                           notValidAfter: Date? = nil) throws -> IssuedCertificate {
        guard !hosts.isEmpty else { throw CertificateFolderError("an agent certificate needs at least one host name or IP address") }
        let names = try hosts.map { host -> GeneralName in
            if let octets = IPAddressText.octets(host) {
                return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets)))
            }
            guard HostName.isValid(host) else { throw CertificateFolderError("\"\(host)\" is neither a DNS name nor an IP address") }
            return .dnsName(host.lowercased())
        }
        return try issue(
            subject: try DistinguishedName {
                OrganizationName("Shunt")
                CommonName("shunt-agent")
            },
            usage: .serverAuth,
            alternativeNames: SubjectAlternativeNames(names),
            validity: validity, now: now, notValidAfter: notValidAfter)
    }

    /// A developer's client certificate; `developer` becomes the subject common name.
    public func issueClient(developer: String, validity: Validity = Validity(), now: Date = Date(),
                            notValidAfter: Date? = nil) throws -> IssuedCertificate {
        guard Developer.isValidName(developer) else {
            throw CertificateFolderError("\"\(developer)\" is not a usable developer name (1-64 characters: letters, digits, . _ @ -)")
        }
        return try issue(
            subject: try DistinguishedName {
                OrganizationName("Shunt")
                CommonName(developer)
            },
            usage: .clientAuth, alternativeNames: nil, validity: validity, now: now, notValidAfter: notValidAfter)
    }

    private func issue(subject: DistinguishedName, usage: ExtendedKeyUsage.Usage, alternativeNames: SubjectAlternativeNames?,
                       validity: Validity, now: Date, notValidAfter: Date?) throws -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now - validity.backdate,
            notValidAfter: min(notValidAfter ?? (now + validity.leaf), root.certificate.notValidAfter),
            issuer: root.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: root.certificate.publicKey).keyIdentifier)
                if let alternativeNames { alternativeNames }
            },
            issuerPrivateKey: Certificate.PrivateKey(root.privateKey)
        )
        return IssuedCertificate(certificate: certificate, privateKey: key)
    }
}

/// Developer names as they appear in client certificates and in the agent's records.
public enum Developer {
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.unicodeScalars.allSatisfy { scalar in
            CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII || "._@-".unicodeScalars.contains(scalar)
        }
    }

    /// The current user's name, for `shunt certs init`.
    public static var current: String {
        let environment = ProcessInfo.processInfo.environment
        let name = environment["USER"] ?? environment["LOGNAME"] ?? NSUserName()
        return isValidName(name) ? name : "developer"
    }
}

enum HostName {
    static func isValid(_ host: String) -> Bool {
        guard (1...253).contains(host.utf8.count) else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
        }
    }
}

/// Dotted IPv4 and RFC 4291 IPv6 text to octets.
enum IPAddressText {
    static func octets(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
