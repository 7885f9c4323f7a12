import Foundation

/// Writes a file that only its owner may read (0600): created so before any byte is written, and
/// made so if it existed. Keys and certificates, the `.env` file of `shunt intercept --env-file`
/// (it may hold secrets) and the status file of `shunt status` are written this way.
public enum OwnerOnlyFile {
    public struct Failure: Error, Sendable {
        /// What failed: `open`, `fchmod` or `write`.
        public let step: String
        public let errno: Int32
        public var reason: String { String(cString: strerror(errno)) }
    }

    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(Failure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(step: "open", errno: errno) }
        defer { close(descriptor) }
        guard fchmod(descriptor, 0o600) == 0 else { throw Failure(step: "fchmod", errno: errno) }
        let bytes = Array(bytes)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw Failure(step: "write", errno: errno) }
            written += result
        }
    }
}
