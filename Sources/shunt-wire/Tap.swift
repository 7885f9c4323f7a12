import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTLS
import ShuntWireTools

/// `shunt-wire tap`: the agent's frame log, live.
struct Tap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream an agent's frame log live: one line per frame its sessions send and receive.",
        discussion: """
            shunt-wire tap --agent 10.0.0.5:7443 --certs ~/ops-certs --session alice --stream 5
            Needs a client certificate whose name the agent lists as an operator (shunt-agent --operator \
            NAME, or SHUNT_OPERATOR). Lines are in the text form `shunt-wire decode` prints (> the agent \
            received it, < the agent sent it), the session id following as a comment, so they paste into \
            `shunt-wire encode`; --output json writes the records as JSON Lines. Frame headers and fields \
            only: DATA octets are shown only with --payload. When this reads too slowly the agent drops \
            records and a line says how many. Ctrl-C ends the tap. Exit status: 0 when stopped or when \
            the agent ended the tap, 1 when the session failed, 2 when the tap could not start.
            """
    )

    @Option(help: ArgumentHelp("The agent's tunnel port.", valueName: "HOST:PORT")) var agent: String
    @Option(help: ArgumentHelp("Certificate folder with ca.pem, client.pem and client-key.pem (default: shunt's).", valueName: "DIR"))
    var certs: String?
    @Option(help: ArgumentHelp("Only this session (NAME#N, as the lines show it) or every session of one peer (NAME).", valueName: "ID"))
    var session: String?
    @Option(help: ArgumentHelp("Only frames of this stream id (0: the session's own frames).", valueName: "N")) var stream: UInt32?
    @Option(help: ArgumentHelp("DATA octets to show per frame (at most \(TapCall.maxPayload)).", valueName: "N")) var payload = 0
    @Option(help: "Output format: text (the form encode reads) or json (JSON Lines).") var output: Decode.OutputFormat = .text
    @Option(help: "Seconds the connection and the agent's answer may take.") var timeout = Int(AgentProbe.Options.defaultDeadline.nanoseconds / 1_000_000_000)

    func validate() throws {
        guard (0...TapCall.maxPayload).contains(payload) else { throw ValidationError("--payload is 0 to \(TapCall.maxPayload) octets") }
        guard timeout >= 1 else { throw ValidationError("--timeout is at least 1") }
    }

    func run() async throws {
        let address: HostPort
        let endpoint: ShuntTLSEndpoint
        do {
            address = try HostPort(parsing: agent)
            endpoint = try ShuntTLSEndpoint.developer(folder: certs.map { CertificateFolder(URL(fileURLWithPath: $0)) } ?? .defaultFolder)
        } catch {
            Say.error("tap", "\(error)")
            throw ExitCode(2)
        }
        let format: TapCall.Format = output == .json ? .json : .text
        let request = TapCall.Request(session: session, stream: stream, payload: payload, format: format)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let tap: AgentTap
        do {
            tap = try await AgentTap.open(endpoint: endpoint, host: address.host, port: address.port, request: request, group: group,
                                          deadline: .seconds(Int64(timeout))) { record in
                Self.write(record.printed(as: format))
            }
        } catch {
            try? await group.shutdownGracefully()
            Say.error("tap", "agent \(agent): \(error)")
            throw ExitCode(2)
        }
        if format == .text {
            Self.write("# tapping \(agent) as \(tap.opened.session); sessions open: \(tap.opened.sessions.joined(separator: ", "))")
        }
        // Ctrl-C (and SIGTERM) end the tap cleanly: RESET on its stream, GOAWAY, exit 0.
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { Task { await tap.stop() } }
            source.resume()
            return source
        }
        let end = (try? await tap.ended.get()) ?? .failed("the tap ended")
        await tap.stop()
        for source in signals { source.cancel() }
        try? await group.shutdownGracefully()
        switch end {
        case .stopped, .endedByAgent:
            if end == .endedByAgent { Say.error("tap", "\(end)") }
        case .failed(let why):
            Say.error("tap", why)
            throw ExitCode(1)
        }
    }

    /// One line on standard output, written at once: a live tap is read as it comes.
    static func write(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
