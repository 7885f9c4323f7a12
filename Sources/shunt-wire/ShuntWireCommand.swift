import ArgumentParser
import Foundation

/// `shunt-wire`: tools for the Shunt wire protocol (spec/PROTOCOL.md, spec/DEBUGGING.md).
@main
struct ShuntWireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shunt-wire",
        abstract: "Decode, craft, probe and tap the Shunt wire protocol.",
        discussion: """
            shunt-wire decode capture.bin                   frames of a raw byte stream, one a line
            tshark -q -z follow,tls,raw,0 … | shunt-wire decode --from-tshark
            shunt-wire decode --payload all dump.txt --hex | shunt-wire encode > same.bin
            shunt-wire ping --agent 10.0.0.5:7443 --certs ~/.config/shunt/certs
            shunt-wire tap --agent 10.0.0.5:7443 --certs ~/ops-certs --session alice   live frame log (operators)
            spec/DEBUGGING.md says how to capture and decrypt a session.
            """,
        subcommands: [Decode.self, Encode.self, Ping.self, Tap.self]
    )
}

/// One line on standard error, prefixed with the command.
enum Say {
    static func error(_ command: String, _ message: String) {
        FileHandle.standardError.write(Data("shunt-wire \(command): \(message)\n".utf8))
    }
}

/// Reads a file, or standard input for `-` or no file, up to a bound.
enum InputFile {
    static func read(_ path: String?, limit: Int, command: String) throws -> [UInt8] {
        let handle: FileHandle
        if let path, path != "-" {
            guard let file = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("cannot open \(path)")
            }
            handle = file
        } else {
            handle = FileHandle.standardInput
        }
        var bytes: [UInt8] = []
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            bytes += chunk
            if bytes.count > limit {
                throw ValidationError("the input is larger than --max-input \(limit) octets")
            }
        }
        return bytes
    }
}
