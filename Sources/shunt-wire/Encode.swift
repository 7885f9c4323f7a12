import ArgumentParser
import Foundation
import ShuntWireTools

/// `shunt-wire encode`: the text form (what decode prints) back to octets.
struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build octets from the text form, one frame a line (the form decode prints).",
        discussion: """
            printf 'PREFACE\\nHELLO stream=0 COMPRESSION=1\\nPING opaque=1\\n' | shunt-wire encode > hello.bin
            Fields: stream=, flags= (FIN|COMPRESSED|ACK or a number), length= (the header's length field; \
            missing DATA octets are zeros), reserved=, and per type: DATA data=; STREAM_OPEN kind= \
            meta:KEY=VALUE…; RESET code= reason=; WINDOW_UPDATE increment=; PING opaque=; GOAWAY \
            last_stream_id= code= debug=; HELLO min_version= max_version= NAME=VALUE…; MAX_STREAMS maximum=; \
            EXTENSION(0x80) payload=. Byte values are "quoted text" or 0x hex. Also PREFACE and RAW raw=0x…. \
            The encoder writes what it is told, so it can craft malformed input.
            """
    )

    @Argument(help: "The text file; - or none for standard input.") var file: String?
    @Option(help: "Keep only the lines of one direction (> laptop to agent, < agent to laptop), for a decoded tshark transcript.")
    var direction: String?
    @Flag(help: "Write hex text instead of octets.") var hex = false
    @Option(help: "The largest input read, in octets.") var maxInput = Decode.defaultMaxInput

    func validate() throws {
        if let direction, WireDirection(rawValue: direction) == nil { throw ValidationError("--direction is > or <") }
    }

    func run() throws {
        let text = String(decoding: try InputFile.read(file, limit: maxInput, command: "encode"), as: UTF8.self)
        let lines: [WireTextLine]
        do {
            lines = try WireTextParser.parse(text)
        } catch {
            Say.error("encode", "\(error)")
            throw ExitCode(2)
        }
        let wanted = direction.flatMap(WireDirection.init(rawValue:))
        let directions = Set(lines.compactMap(\.direction))
        if wanted == nil && directions.count > 1 {
            Say.error("encode", "the input has lines of both directions (> and <); pick one with --direction")
            throw ExitCode(2)
        }
        var bytes: [UInt8] = []
        for line in lines where wanted == nil || line.direction == wanted { bytes += line.bytes }
        if hex {
            FileHandle.standardOutput.write(Data((WireBytesText.hex(bytes) + "\n").utf8))
        } else {
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}
