import Foundation
import ShuntTLS

/// The application environment in `.env` syntax (`NAME=value`, one a line, sorted), written 0600:
/// it may hold secrets.
public enum EnvFile {
    /// Values made only of safe characters are written bare; others in double quotes, with `\`,
    /// `"`, `$` and `` ` `` escaped and line breaks as `\n`.
    public static func render(_ environment: [String: String]) -> String {
        environment.keys.sorted().map { "\($0)=\(quoted(environment[$0]!))\n" }.joined()
    }

    static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,@%+".unicodeScalars)

    static func quoted(_ value: String) -> String {
        if !value.isEmpty && value.unicodeScalars.allSatisfy(safe.contains) { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "$": out += "\\$"
            case "`": out += "\\`"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Writes `render(environment)` to `path`, owner-only (0600) even if the file existed.
    public static func write(_ environment: [String: String], to path: String) throws {
        do {
            try OwnerOnlyFile.write(render(environment).utf8, to: path)
        } catch {
            throw EnvFileError(path: path, errno: error.errno)
        }
    }
}

public struct EnvFileError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
