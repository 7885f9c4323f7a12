import Crypto
import Foundation
import X509

/// A folder of Shunt PEM files (`CertificateFile`). Files are written owner-only (0600) in an
/// owner-only folder (0700); nothing here ever logs a key.
public struct CertificateFolder: Sendable {
    public let url: URL
    /// Files given one by one (`shunt-agent --tls-cert/--tls-key/--client-ca`, as a Kubernetes
    /// Secret mounts them): each is read from its own path instead of the folder.
    public var overrides: [CertificateFile: String] = [:]

    public init(_ url: URL, overrides: [CertificateFile: String] = [:]) {
        self.url = url
        self.overrides = overrides
    }

    /// `$SHUNT_CONFIG_DIR/certs`, else `$XDG_CONFIG_HOME/shunt/certs`, else `~/.config/shunt/certs`.
    public static var defaultFolder: CertificateFolder {
        let environment = ProcessInfo.processInfo.environment
        let base: URL
        if let dir = environment["SHUNT_CONFIG_DIR"], !dir.isEmpty {
            base = URL(fileURLWithPath: dir)
        } else if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            base = URL(fileURLWithPath: xdg).appendingPathComponent("shunt")
        } else {
            base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config/shunt")
        }
        return CertificateFolder(base.appendingPathComponent("certs"))
    }

    public func path(_ file: CertificateFile) -> String { overrides[file] ?? url.appendingPathComponent(file.rawValue).path }

    public func exists(_ file: CertificateFile) -> Bool { FileManager.default.fileExists(atPath: path(file)) }

    /// Creates the CA, the agent certificate for `hosts` and a client certificate for `developer`.
    /// Refuses to overwrite an existing CA unless `force`.
    @discardableResult
    public func initialize(developer: String, hosts: [String], force: Bool = false, now: Date = Date()) throws -> CertificateAuthority {
        if exists(.ca) && !force {
            throw CertificateFolderError("\(path(.ca)) already exists; use --force to replace the whole folder's CA (every issued certificate becomes invalid)")
        }
        let authority = try CertificateAuthority.create(label: developer, now: now)
        let agent = try authority.issueAgent(hosts: hosts, now: now)
        let client = try authority.issueClient(developer: developer, now: now)
        try createFolder()
        try write(.ca, try authority.root.certificatePEM)
        try write(.caKey, authority.root.privateKeyPEM)
        try write(.agent, try agent.certificatePEM)
        try write(.agentKey, agent.privateKeyPEM)
        try write(.client, try client.certificatePEM)
        try write(.clientKey, client.privateKeyPEM)
        return authority
    }

    /// Issues a client certificate for another developer into `output` (`NAME.pem`, `NAME-key.pem`).
    public func issueClient(developer: String, into output: URL, now: Date = Date()) throws -> (certificate: String, key: String) {
        let authority = try loadAuthority()
        let issued = try authority.issueClient(developer: developer, now: now)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let certificatePath = output.appendingPathComponent("\(developer).pem").path
        let keyPath = output.appendingPathComponent("\(developer)-key.pem").path
        try Self.writeOwnerOnly(certificatePath, try issued.certificatePEM)
        try Self.writeOwnerOnly(keyPath, issued.privateKeyPEM)
        return (certificatePath, keyPath)
    }

    public func loadAuthority() throws -> CertificateAuthority {
        let certificate = try loadCertificate(.ca)
        let key = try loadKey(.caKey)
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw CertificateFolderError("\(path(.caKey)) is not the key of \(path(.ca))")
        }
        return CertificateAuthority(root: IssuedCertificate(certificate: certificate, privateKey: key))
    }

    public func loadCertificate(_ file: CertificateFile) throws -> Certificate {
        let text = try read(file)
        do {
            return try Certificate(pemEncoded: text)
        } catch {
            throw CertificateFolderError("\(path(file)) is not a PEM certificate: \(error)")
        }
    }

    public func loadKey(_ file: CertificateFile) throws -> P256.Signing.PrivateKey {
        let text = try read(file)
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: text)
        } catch {
            // The key's bytes are never echoed.
            throw CertificateFolderError("\(path(file)) is not a PEM P-256 private key")
        }
    }

    func read(_ file: CertificateFile) throws -> String {
        guard let data = FileManager.default.contents(atPath: path(file)) else {
            throw CertificateFolderError("\(path(file)) is missing; run `shunt certs init` (or pass --certs DIR)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func createFolder() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    private func write(_ file: CertificateFile, _ text: String) throws {
        try Self.writeOwnerOnly(path(file), text)
    }

    /// Creates the file 0600 before any byte is written, so a key is never readable by others.
    static func writeOwnerOnly(_ path: String, _ text: String) throws {
        do {
            try OwnerOnlyFile.write(text.utf8, to: path)
        } catch {
            throw CertificateFolderError(error.step == "fchmod" ? "cannot make \(path) owner-only: \(error.reason)" : "cannot write \(path): \(error.reason)")
        }
    }
}
