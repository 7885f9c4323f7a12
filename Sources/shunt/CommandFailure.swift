import ArgumentParser
import Foundation

/// A failure told to the person in one line on standard error (`shunt intercept: …`), then an exit status.
enum CommandFailure {
    static func exit(_ command: String, _ message: String, status: Int32 = 1) -> ExitCode {
        say(command, message)
        return ExitCode(status)
    }

    static func say(_ command: String, _ message: String) {
        FileHandle.standardError.write(Data("shunt \(command): \(message)\n".utf8))
    }
}
