import Crypto
import Foundation
import ShuntTLS
import Testing
import X509

@Suite struct CertificateTests {
    @Test func initWritesSixOwnerOnlyPEMFilesThatLoadBack() throws {
        let certs = try TemporaryCertificates(developer: "bob", hosts: ["localhost", "127.0.0.1", "::1", "agent.example"])
        defer { certs.remove() }
        for file in CertificateFile.allCases {
            let attributes = try FileManager.default.attributesOfItem(atPath: certs.folder.path(file))
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file.rawValue)")
        }
        let folderAttributes = try FileManager.default.attributesOfItem(atPath: certs.folder.url.path)
        #expect((folderAttributes[.posixPermissions] as? Int) == 0o700)
        let ca = try certs.folder.loadCertificate(.ca)
        let verifier = PeerVerifier(authority: ca)
        let client = try certs.folder.loadCertificate(.client)
        #expect(try verifier.verify([client], expecting: .developer).get().name == "bob")
        let agent = try certs.folder.loadCertificate(.agent)
        for host in ["localhost", "127.0.0.1", "::1", "AGENT.example"] {
            #expect(try verifier.verify([agent], expecting: .agent(host: host)).get().name == "shunt-agent", "\(host)")
        }
        _ = try certs.folder.loadAuthority()
    }

    @Test func initRefusesToReplaceAnExistingCA() throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        #expect(throws: CertificateFolderError.self) { try certs.folder.initialize(developer: "alice", hosts: ["localhost"]) }
        try certs.folder.initialize(developer: "alice", hosts: ["localhost"], force: true)
    }

    @Test func issueAddsADeveloperTheAgentAccepts() throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        let out = certs.folder.url.appendingPathComponent("issued")
        let (certificatePath, keyPath) = try certs.folder.issueClient(developer: "carol", into: out)
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
        _ = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
        let verifier = PeerVerifier(authority: try certs.folder.loadCertificate(.ca))
        #expect(try verifier.verify([certificate], expecting: .developer).get().name == "carol")
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test(arguments: ["", "a b", "x/../y", String(repeating: "n", count: 65), "émile"])
    func badDeveloperNamesAreRefused(_ name: String) throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        #expect(throws: CertificateFolderError.self) { _ = try certs.authority.issueClient(developer: name) }
    }

    @Test func aMissingFileNamesItselfAndTheFix() throws {
        let folder = CertificateFolder(URL(fileURLWithPath: "/nonexistent/shunt"))
        #expect { _ = try folder.loadCertificate(.ca) } throws: { error in
            "\(error)".contains("/nonexistent/shunt/ca.pem is missing; run `shunt certs init`")
        }
    }

    @Test func aBrokenKeyFileIsReportedWithoutItsContents() throws {
        let certs = try TemporaryCertificates()
        defer { certs.remove() }
        try "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n".write(toFile: certs.folder.path(.clientKey), atomically: true, encoding: .utf8)
        #expect { _ = try certs.folder.loadKey(.clientKey) } throws: { error in
            let text = "\(error)"
            return text.contains("is not a PEM P-256 private key") && !text.contains("c2VjcmV0")
        }
    }
}

/// `PeerVerifier` alone: every refusal reason, with a fixed clock.
@Suite struct PeerVerifierTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func eachRefusalHasItsReason() throws {
        let authority = try CertificateAuthority.create(label: "t", now: now)
        let other = try CertificateAuthority.create(label: "other", now: now)
        let verifier = PeerVerifier(authority: authority.root.certificate)
        let agent = try authority.issueAgent(hosts: ["localhost"], now: now).certificate
        let client = try authority.issueClient(developer: "dana", now: now).certificate
        let stranger = try other.issueClient(developer: "eve", now: now).certificate

        #expect(verifier.verify([], expecting: .developer, now: now) == .failure(.noCertificate))
        if case .failure(.unknownAuthority(let issuer, let expected)) = verifier.verify([stranger], expecting: .developer, now: now) {
            #expect(issuer.hasPrefix("Shunt CA (other ") && expected.hasPrefix("Shunt CA (t "), "\(issuer) \(expected)")
            #expect(issuer != expected)
        } else {
            Issue.record("a stranger's certificate was not refused as from an unknown CA")
        }
        #expect(verifier.verify([client], expecting: .agent(host: "localhost"), now: now)
                == .failure(.wrongUsage(subject: client.subject.description, needed: "server (agent)")))
        #expect(verifier.verify([agent], expecting: .developer, now: now)
                == .failure(.wrongUsage(subject: agent.subject.description, needed: "client (developer)")))
        #expect(verifier.verify([agent], expecting: .agent(host: "127.0.0.1"), now: now)
                == .failure(.wrongName(host: "127.0.0.1", names: ["localhost"])))
        let later = now + 900 * 86_400
        #expect(verifier.verify([client], expecting: .developer, now: later)
                == .failure(.expired(subject: client.subject.description, notValidAfter: client.notValidAfter)))
        let earlier = now - 86_400
        #expect(verifier.verify([client], expecting: .developer, now: earlier)
                == .failure(.notYetValid(subject: client.subject.description, notValidBefore: client.notValidBefore)))
        #expect(try verifier.verify([client], expecting: .developer, now: now).get().name == "dana")
    }

    @Test func aCertificateWithTheRightIssuerNameButAForgedSignatureIsUnknown() throws {
        let authority = try CertificateAuthority.create(label: "same", now: now)
        let impostor = try CertificateAuthority.create(label: "same", now: now)  // same name, another key
        let forged = try impostor.issueClient(developer: "eve", now: now).certificate
        let verifier = PeerVerifier(authority: authority.root.certificate)
        guard case .failure(.unknownAuthority) = verifier.verify([forged], expecting: .developer, now: now) else {
            Issue.record("a certificate signed by another key was accepted")
            return
        }
    }

    /// Two CAs made for one developer (two `shunt certs init`) have different names, so an
    /// unknown-CA refusal can tell them apart.
    @Test func twoCAsForOneDeveloperDoNotShareAName() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let first = try CertificateAuthority.create(label: "alice", now: now)
        let second = try CertificateAuthority.create(label: "alice", now: now)
        let names = [first, second].map { $0.root.certificate.subject.description }
        #expect(names[0] != names[1])
        #expect(names.allSatisfy { $0.contains("Shunt CA (alice 2026-09-21 ") }, "\(names)")
    }
}
