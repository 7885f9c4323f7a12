import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A port on 127.0.0.1 where nothing listens, for as long as this lives: a TCP socket bound to it
/// and never listening, so a connection to it is refused, and no other server (another test running
/// at the same time) can be given it. A port taken from a server that was then closed is free for
/// the next bind anywhere, and was, once, a listening one by the time the test connected.
///
/// The same port on ::1 is held too, where this machine has ::1: the laptop tries [::1]:PORT when
/// 127.0.0.1:PORT refuses (`LocalTarget`), and another test's server there would answer for it.
public final class ReservedPort: @unchecked Sendable {
    public let port: Int
    private let descriptors: [Int32]

    /// A free port (0), or `port` itself: a server's port taken over as soon as it stopped, so that
    /// from then on nothing can listen there (`SO_REUSEADDR`: the connections the server closed
    /// may still be in TIME_WAIT). Throws when something else holds it.
    public init(port: Int = 0) throws {
        // A free port on 127.0.0.1 may be taken on ::1: another is drawn, a few times.
        for attempt in 1...20 {
            let v4 = try Self.bind(ipv6: false, port: port)
            guard let v6 = try? Self.bind(ipv6: true, port: v4.port) else {
                if port == 0, attempt < 20, Self.hasIPv6Loopback {
                    close(v4.descriptor)
                    continue
                }
                descriptors = [v4.descriptor]
                self.port = v4.port
                return
            }
            descriptors = [v4.descriptor, v6.descriptor]
            self.port = v4.port
            return
        }
        throw POSIXError(.EADDRINUSE)
    }

    deinit { for descriptor in descriptors { close(descriptor) } }

    /// Whether a socket can be bound to ::1 on this machine at all.
    public static let hasIPv6Loopback: Bool = {
        guard let probe = try? bind(ipv6: true, port: 0) else { return false }
        close(probe.descriptor)
        return true
    }()

    private static func bind(ipv6: Bool, port: Int) throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var on: Int32 = 1
        if port != 0 {
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        var bound = false
        var chosen = 0
        if ipv6 {
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_loopback
            address.sin6_port = UInt16(port).bigEndian
            bound = bindAndName(descriptor, &address)
            chosen = Int(UInt16(bigEndian: address.sin6_port))
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            bound = bindAndName(descriptor, &address)
            chosen = Int(UInt16(bigEndian: address.sin_port))
        }
        guard bound else {
            let error = errno
            close(descriptor)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
        return (descriptor, chosen)
    }

    /// Binds `descriptor` to `address` (a `sockaddr_in` or `sockaddr_in6`), then reads back the port
    /// it was given into it.
    private static func bindAndName<Address>(_ descriptor: Int32, _ address: inout Address) -> Bool {
        var length = socklen_t(MemoryLayout<Address>.size)
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Glibc.bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
    }
}
