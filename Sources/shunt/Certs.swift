import ArgumentParser
import Foundation
import ShuntTLS

/// `shunt certs`: the Shunt CA and the certificates of the agent and of each developer.
struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Create and issue the certificates Shunt's mutual TLS uses.",
        discussion: """
            One Shunt CA signs the agent's server certificate and one client certificate per developer. \
            The agent records the client certificate's name as the owner of each intercept. Files are \
            PEM, written owner-only (0600): ca.pem, ca-key.pem, agent.pem, agent-key.pem, client.pem, \
            client-key.pem. Keep ca-key.pem off shared machines: whoever holds it can issue identities.
            """,
        subcommands: [Init.self, Issue.self, Show.self]
    )

    struct Folder: ParsableArguments {
        @Option(name: [.customLong("certs"), .customLong("dir")],
                help: ArgumentHelp("Certificate folder.", valueName: "DIR"))
        var directory: String?

        var folder: CertificateFolder {
            directory.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a CA, an agent certificate and a client certificate for you.")

        @OptionGroup var folder: Folder

        @Option(name: .customLong("host"), help: ArgumentHelp(
            "A DNS name or IP address the agent is reached at (repeatable; default: localhost and 127.0.0.1).", valueName: "NAME"))
        var hosts: [String] = []

        @Option(help: "Your developer name, as the agent will record it (default: $USER).")
        var name: String?

        @Flag(help: "Replace an existing CA (every certificate it issued stops working).")
        var force = false

        func run() throws {
            let target = folder.folder
            let developer = name ?? Developer.current
            do {
                try target.initialize(developer: developer, hosts: hosts.isEmpty ? ["localhost", "127.0.0.1"] : hosts, force: force)
            } catch let error as CertificateFolderError {
                throw ValidationError(error.description)
            }
            print("Created the Shunt CA and certificates in \(target.url.path):")
            for file in CertificateFile.allCases { print("  \(file.rawValue)") }
            print("Developer: \(developer). Agent names: \((hosts.isEmpty ? ["localhost", "127.0.0.1"] : hosts).joined(separator: ", ")).")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a client certificate for another developer.",
            discussion: "Writes NAME.pem and NAME-key.pem into --out (default: the certificate folder's issued/ subfolder). Hand both to the developer, who uses them as client.pem and client-key.pem next to ca.pem. An operator's certificate (`shunt-wire tap`) is issued the same way; the agent's --operator NAME makes it one.")

        @OptionGroup var folder: Folder

        @Argument(help: "The developer's name (letters, digits, . _ @ -; at most 64).")
        var name: String

        @Option(help: ArgumentHelp("Where to write the two files.", valueName: "DIR"))
        var out: String?

        func run() throws {
            let target = folder.folder
            let output = out.map { URL(fileURLWithPath: $0) } ?? target.url.appendingPathComponent("issued")
            do {
                let written = try target.issueClient(developer: name, into: output)
                print("Issued a client certificate for \(name):\n  \(written.certificate)\n  \(written.key)")
            } catch let error as CertificateFolderError {
                throw ValidationError(error.description)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the certificates in the folder (never the keys).")

        @OptionGroup var folder: Folder

        func run() throws {
            let target = folder.folder
            for file in [CertificateFile.ca, .agent, .client] {
                do {
                    let certificate = try target.loadCertificate(file)
                    print("\(file.rawValue): \(certificate.subject) issued by \(certificate.issuer), valid until \(certificate.notValidAfter)")
                } catch let error as CertificateFolderError {
                    print("\(file.rawValue): \(error)")
                }
            }
        }
    }
}
