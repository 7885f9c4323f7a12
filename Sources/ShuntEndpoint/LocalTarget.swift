import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Where the developer's service is reached on this laptop: 127.0.0.1:PORT, or [::1]:PORT.
///
/// A service started on "localhost" may listen on IPv6 alone (Node.js 17 and later, and the
/// development servers built on it, take the first address the name resolves to, often ::1), and one
/// on 127.0.0.1 alone is just as common. 127.0.0.1 is tried first. When a connection to the address
/// in use is refused and one to the other is accepted, the other is used from then on (and back, if
/// the service moves again), and `switched` says so once per move. Any other failure (a timeout, a
/// refusal at both) is reported as the address in use's, and that address stays in use.
public final class LocalTarget: Sendable {
    public let port: Int
    /// 127.0.0.1 first, then ::1 (when the port makes addresses).
    private let addresses: [SocketAddress]
    /// The index in `addresses` of the one in use; read once per connection made, not per request.
    private let current = NIOLockedValueBox(0)
    private let switched: @Sendable (_ from: SocketAddress, _ to: SocketAddress) -> Void

    public init(port: Int, switched: @escaping @Sendable (_ from: SocketAddress, _ to: SocketAddress) -> Void = { _, _ in }) {
        self.port = port
        addresses = ["127.0.0.1", "::1"].compactMap { try? SocketAddress(ipAddress: $0, port: port) }
        self.switched = switched
    }

    /// Whether the port makes addresses at all (it is in range); read without a lock.
    public var hasAddress: Bool { !addresses.isEmpty }

    /// The address in use, nil when the port makes none.
    public var address: SocketAddress? {
        let index = current.withLockedValue { $0 }
        return addresses.indices.contains(index) ? addresses[index] : nil
    }

    /// `127.0.0.1:8080` or `[::1]:8080`: the address in use, as the developer reads it.
    public var text: String {
        address.map(Self.text) ?? "127.0.0.1:\(port)"
    }

    public static func text(_ address: SocketAddress) -> String {
        switch address {
        case .v6: "[\(address.ipAddress ?? "::1")]:\(address.port ?? 0)"
        default: "\(address.ipAddress ?? "127.0.0.1"):\(address.port ?? 0)"
        }
    }

    /// A connection made with `dial`: to the address in use, else, when that one refused, to the
    /// other. Runs on `loop`, and so does `dial`.
    func connect(on loop: EventLoop, _ dial: @escaping (SocketAddress) -> EventLoopFuture<Channel>) -> EventLoopFuture<Channel> {
        let index = current.withLockedValue { $0 }
        guard addresses.indices.contains(index) else {
            return loop.makeFailedFuture(ChannelError.badInterfaceAddressFamily)
        }
        let addresses = self.addresses
        return dial(addresses[index]).hop(to: loop).assumeIsolated().flatMapError { (error: Error) -> EventLoopFuture<Channel>.Isolated in
            guard Self.isRefused(error), addresses.count > 1 else { return loop.makeFailedFuture(error).assumeIsolated() }
            let other = (index + 1) % addresses.count
            return dial(addresses[other]).hop(to: loop).assumeIsolated().map { channel in
                let moved = self.current.withLockedValue { value in
                    defer { value = other }
                    return value != other
                }
                if moved { self.switched(addresses[index], addresses[other]) }
                return channel
            }.flatMapError { _ in loop.makeFailedFuture(error).assumeIsolated() }
        }.nonisolated()
    }

    /// Whether the connection was refused: nothing listens there (as opposed to a timeout).
    static func isRefused(_ error: Error) -> Bool {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first { return isRefused(first.error) }
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        return false
    }
}
