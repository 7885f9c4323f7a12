import Foundation

/// The one place Shunt runs kubectl: find a Service's agent pods, and port-forward to one.
/// Everything kubectl prints is read by `AgentPods`, tested apart.
public struct Kubectl: Sendable {
    /// The kubectl executable (a path).
    public var executable: String
    public var namespace: String?
    public var context: String?

    public init(executable: String, namespace: String? = nil, context: String? = nil) {
        self.executable = executable
        self.namespace = namespace
        self.context = context
    }

    /// `kubectl` on `PATH`, or nil.
    public static func locate(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        for directory in (path ?? "").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/kubectl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The arguments for `rest`, with the namespace and context flags first.
    public func arguments(_ rest: [String]) -> [String] {
        var arguments: [String] = []
        if let context { arguments += ["--context", context] }
        if let namespace { arguments += ["--namespace", namespace] }
        return arguments + rest
    }

    /// The pods behind `service` that run the agent.
    public func agentPods(service: String) throws -> [AgentPod] {
        let serviceJSON = try run(["get", "service", service, "-o", "json"])
        let selector = try AgentPods.selector(serviceJSON: serviceJSON, service: service)
        let pods = try run(["get", "pods", "-l", selector, "-o", "json"])
        return try AgentPods.agents(podListJSON: pods, service: service)
    }

    /// Runs kubectl to completion; its standard output, or its standard error as the failure.
    public func run(_ rest: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(rest)
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw KubectlError("cannot run \(executable): \(error)")
        }
        // Read both pipes to the end before waiting, so that a large answer cannot block kubectl.
        let errorData = LockedData()
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { errorData.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        reading.wait()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errorData.value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw KubectlError("kubectl \(rest.joined(separator: " ")) failed (exit \(process.terminationStatus)): \(message)")
        }
        return data
    }

    /// Starts `kubectl port-forward pod/POD :PORT` on 127.0.0.1 and waits for its local port.
    public func portForward(pod: String, port: Int) throws -> PortForward {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(["port-forward", "pod/\(pod)", ":\(port)", "--address", "127.0.0.1"])
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw KubectlError("cannot run \(executable): \(error)")
        }
        var buffered = ""
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw KubectlError("kubectl port-forward pod/\(pod) :\(port) ended (exit \(process.terminationStatus)) before forwarding: \(message)")
            }
            buffered += String(decoding: chunk, as: UTF8.self)
            let lines = buffered.split(separator: "\n", omittingEmptySubsequences: false)
            for line in lines.dropLast() {
                if let local = AgentPods.forwardedPort(line: String(line)) {
                    return PortForward(process: process, pod: pod, localPort: local, output: output, errors: errors)
                }
            }
            buffered = String(lines.last ?? "")
        }
    }
}

/// A running `kubectl port-forward`; `stop` ends it (SIGTERM to its process id).
public final class PortForward: @unchecked Sendable {
    public let pod: String
    public let localPort: Int
    private let process: Process
    // Kept open so that kubectl's later lines do not fail on a closed pipe.
    private let output: Pipe
    private let errors: Pipe

    init(process: Process, pod: String, localPort: Int, output: Pipe, errors: Pipe) {
        self.process = process
        self.pod = pod
        self.localPort = localPort
        self.output = output
        self.errors = errors
        // Drain kubectl's later output (a line per connection) so that it never blocks on a full pipe.
        output.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
        errors.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
    }

    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, and SIGKILL if kubectl is still there after 2 s. (Not `waitUntilExit`: it runs a
    /// run loop that never sees the exit when called off the main thread.)
    public func stop() {
        let pid = process.processIdentifier
        if process.isRunning { kill(pid, SIGTERM) }
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
    }
}

public struct KubectlError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Bytes handed over from a reader on another thread.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func set(_ value: Data) {
        lock.lock()
        data = value
        lock.unlock()
    }

    var value: Data {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
