import Foundation
import NIOCore
import NIOPosix

/// The program given after `--`, run with the application's environment; its exit status becomes
/// ours (128 + N when a signal N ended it, as shells report it).
final class ChildCommand: @unchecked Sendable {
    private let process = Process()
    /// Completed by the termination handler (or by `start` when the program could not be run); any
    /// number of waiters.
    private let exited = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int32.self)

    /// Runs `executable` (found by `executable(_:searchPath:)`) with `arguments` after the command's
    /// name, and `environment`.
    init(executable: String, arguments: [String], environment: [String: String]) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let exited = self.exited
        process.terminationHandler = { process in
            let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
            exited.succeed(status)
        }
    }

    func start() throws {
        do {
            try process.run()
        } catch {
            exited.succeed(127)
            throw error
        }
    }

    /// What a shell says of a command `name` that `executable(_:searchPath:)` did not find: a bare
    /// name was looked up in PATH, one with a slash was taken as a path.
    static func notFound(_ name: String) -> String {
        name.contains("/") ? "\(name): no such executable file" : "\(name): command not found in this machine's PATH"
    }

    /// The file `name` runs, as execvp(3) finds it: a name with a slash as it is, else the first
    /// executable regular file of that name in `searchPath`'s folders (an empty entry is the current
    /// folder; no PATH at all is /usr/bin:/bin). Nil: there is none.
    static func executable(_ name: String, searchPath: String?) -> String? {
        guard !name.isEmpty else { return nil }
        if name.contains("/") { return isExecutableFile(name) ? name : nil }
        for folder in (searchPath ?? "/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (folder.isEmpty ? "." : String(folder)) + "/" + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// Passes a signal on (Ctrl-C reaches the whole process group anyway; `kill` reaches only us).
    func signal(_ number: Int32) {
        let pid = process.processIdentifier
        if pid > 0 { kill(pid, number) }
    }

    func exitStatus() async -> Int32 {
        (try? await exited.futureResult.get()) ?? 1
    }
}
