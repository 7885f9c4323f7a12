import NIOCore

/// The fields that describe one connection rather than the message (RFC 9110 §7.6.1), which a proxy
/// must not pass on: the fixed list, plus every name the Connection field lists.
public enum HopByHopHeaders {
    /// Always connection-specific, lowercased: the known names so marked (`KnownFieldName.isHopByHop`),
    /// which is where the list is kept.
    public static let names: [String] = KnownFieldName.allCases.filter(\.isHopByHop).map { $0.text.description }

    /// Whether the field `name` is dropped when forwarding a head carrying `headers`.
    public static func isHopByHop(_ name: ByteBufferView, in headers: HTTPHeaderFields) -> Bool {
        isHopByHop(name, connectionListed: connectionListed(in: headers))
    }

    /// The names the Connection fields of `headers` list: collected once for a whole head.
    static func connectionListed(in headers: HTTPHeaderFields) -> [ByteBufferView] {
        var listed: [ByteBufferView] = []
        headers.forEachListElement(named: "connection") { listed.append($0) }
        return listed
    }

    /// Whether field `position` of `headers` is dropped, given the names the head's Connection fields
    /// list; its name is compared in place.
    static func isHopByHop(at position: Int, in headers: HTTPHeaderFields, connectionListed: [ByteBufferView]) -> Bool {
        // Recognized when the field was parsed.
        let slot = headers.slots[position]
        if slot.known.isHopByHop { return true }
        return connectionListed.contains { headers.nameOf(slot, equals: $0) }
    }

    /// Whether the field `name` is dropped, given the names the head's Connection fields list.
    static func isHopByHop(_ name: ByteBufferView, connectionListed: [ByteBufferView]) -> Bool {
        if KnownFieldName.of(octets: name).isHopByHop { return true }
        return connectionListed.contains { HTTPSyntax.equalsIgnoringCase($0, name) }
    }
}
