import ArgumentParser
import Foundation
import NIOCore
import ShuntWire
import ShuntWireTools

/// `shunt-wire decode`: a byte stream of the protocol, one line per frame.
struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the frames of a Shunt byte stream, one a line.",
        discussion: """
            Input: raw octets (default), a hex dump (--hex: plain hex, xxd, hexdump -C), or the output of \
            `tshark -q -z follow,tls,raw,N` or `…,hex,N` (--from-tshark), which carries both directions: \
            `>` marks the laptop's octets, `<` the agent's (--agent says which node is the agent when no stream shows it). Each line starts with the octet offset (in its \
            direction). Malformed input is reported at the offset of the frame at fault with the spec's \
            name (!FRAME_TOO_LARGE …) and decoding resumes at the next frame boundary where it can. \
            The exit status is 0 when every octet decoded, 1 when something was malformed.
            """
    )

    /// The largest input read, so a wrong pipe does not eat the machine's memory.
    static let defaultMaxInput = 256 << 20

    @Argument(help: "The input file; - or none for standard input.") var file: String?
    @Flag(help: "The input is hex text.") var hex = false
    @Flag(name: .customLong("from-tshark"), help: "The input is tshark's follow output (raw or hex mode).") var fromTshark = false
    @Option(help: ArgumentHelp("DATA octets to show: a number, or all (default \(WireTextFormat.Options.defaultPayloadLimit)).", valueName: "N|all"))
    var payload: String = "\(WireTextFormat.Options.defaultPayloadLimit)"
    @Option(help: "Output format: text (the form encode reads) or json (JSON Lines).") var output: OutputFormat = .text
    @Option(help: "Whether the stream starts with the 8-octet preface: auto (if the first octet is 0x89), expected, absent.")
    var preface: ResynchronizingDecoder.Preface = .auto
    @Option(help: "The receiver's MAX_FRAME_SIZE the frames are checked against.") var maxFrameSize: UInt32 = WireLimits.defaultMaxFrameSize
    @Option(help: "The receiver's MAX_METADATA_SIZE.") var maxMetadataSize: UInt32 = WireLimits.defaultMaxMetadataSize
    @Option(help: "Octets scanned for the next frame boundary after a malformation.") var maxResyncScan = ResynchronizingDecoder.defaultMaxResyncScan
    @Option(help: "The largest input read, in octets.") var maxInput = Decode.defaultMaxInput
    @Flag(help: "Print only a summary: frames per type, malformations, octets.") var summary = false
    @Option(name: .customLong("agent"), help: ArgumentHelp("With --from-tshark: the agent's endpoint (HOST:PORT or PORT) among the transcript's nodes; by default the side that opens even streams.", valueName: "ENDPOINT"))
    var agentEndpoint: String?

    enum OutputFormat: String, ExpressibleByArgument { case text, json }

    func validate() throws {
        if hex && fromTshark { throw ValidationError("--hex and --from-tshark are different inputs; give one") }
        if payload != "all" && Int(payload).map({ $0 < 0 }) ?? true { throw ValidationError("--payload takes a number of octets or all") }
    }

    func run() throws {
        let bytes = try InputFile.read(file, limit: maxInput, command: "decode")
        let stream: CapturedStream
        do {
            if fromTshark {
                stream = try TsharkFollow.parse(String(decoding: bytes, as: UTF8.self)).oriented(agent: agentEndpoint)
            } else if hex {
                stream = CapturedStream(raw: try HexDump.parse(String(decoding: bytes, as: UTF8.self)))
            } else {
                stream = CapturedStream(raw: bytes)
            }
        } catch {
            Say.error("decode", "cannot read the input: \(error)")
            throw ExitCode(2)
        }
        let decoder = ResynchronizingDecoder(limits: FrameDecoder.Limits(maxFrameSize: maxFrameSize, maxMetadataSize: maxMetadataSize),
                                             preface: preface, maxResyncScan: maxResyncScan)
        let records = stream.decode(with: decoder)
        // With every DATA octet shown, malformed regions are shown whole too, so encode reproduces the input.
        let options = payload == "all" ? WireTextFormat.Options.exact : WireTextFormat.Options(payloadLimit: Int(payload)!)
        var out = ""
        var malformed = 0
        var counts: [String: Int] = [:]
        for record in records {
            if record.error != nil { malformed += 1 }
            if summary {
                let name = switch record.content {
                case .preface: "PREFACE"
                case .frame(let frame): frame.type.name
                case .malformed(let error, _): "!" + error.malformation.rawValue
                }
                counts[(record.direction?.rawValue ?? "") + name, default: 0] += 1
                continue
            }
            out += output == .json ? WireJSONFormat.line(record, options: options) : WireTextFormat.line(record, options: options)
            out += "\n"
            if out.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out.utf8))
                out = ""
            }
        }
        if summary {
            for (name, count) in counts.sorted(by: { $0.key < $1.key }) { out += "\(name) \(count)\n" }
            out += "octets \(bytes.count), records \(records.count), malformed \(malformed)\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if malformed > 0 { throw ExitCode(1) }
    }
}

extension ResynchronizingDecoder.Preface: ExpressibleByArgument {}
