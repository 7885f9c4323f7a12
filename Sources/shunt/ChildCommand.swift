import Foundation
import NIOCore
import NIOPosix

/// The program given after `--`, run with the application's environment; its exit status becomes
/// ours (128 + N when a signal N ended it, as shells report it).
final class ChildCommand: @unchecked Sendable {
    private let process = Process()
    /// Completed by the termination handler (or by `start` when the program could not be run); any
    /// number of waiters. Made once the command is found: a promise dropped unfulfilled is a fault.
    private let exited: EventLoopPromise<Int32>

    /// `arguments[0]` is looked up as the shell that typed it would: in this machine's `PATH`
    /// (`searchPath`), not in the application's, which `environment` may carry (a pod spec that sets
    /// `PATH` names the image's folders).
    init(arguments: [String], environment: [String: String], searchPath: String?) throws {
        let name = arguments.first ?? ""
        guard let executable = Self.executable(name, searchPath: searchPath) else {
            throw NotFound(name: name, searched: !name.contains("/"))
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        let exited = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int32.self)
        self.exited = exited
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

    /// The command could not be found (127, as a shell says it).
    struct NotFound: Error, CustomStringConvertible {
        let name: String
        /// Looked up in PATH (a bare name), or taken as a path (it has a slash).
        let searched: Bool
        var description: String {
            searched ? "\(name): command not found in this machine's PATH" : "\(name): no such executable file"
        }
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
