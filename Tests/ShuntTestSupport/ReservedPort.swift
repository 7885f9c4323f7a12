import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A port on 127.0.0.1 where nothing listens, for as long as this lives: a TCP socket bound to it
/// and never listening, so a connection to it is refused, and no other server (another test running
/// at the same time) can be given it. A port taken from a server that was then closed is free for
/// the next bind anywhere, and was, once, a listening one by the time the test connected.
public final class ReservedPort: @unchecked Sendable {
    public let port: Int
    private let descriptor: Int32

    /// A free port (0), or `port` itself: a server's port taken over as soon as it stopped, so that
    /// from then on nothing can listen there (`SO_REUSEADDR`: the connections the server closed
    /// may still be in TIME_WAIT). Throws when something else holds it.
    public init(port: Int = 0) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        if port != 0 {
            var on: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            close(descriptor)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
