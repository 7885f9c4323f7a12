/// What a head says about the connection it travels on (RFC 9112 §9.3, RFC 9110 §7.6.1, §7.8, §10.1.1).
public enum ConnectionSemantics {
    /// HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 closes unless `Connection: keep-alive`.
    public static func keepAlive(version: HTTPVersion, headers: HTTPHeaderFields) -> Bool {
        if headers.containsToken("close", inListNamed: "connection") { return false }
        switch version {
        case .http11: return true
        case .http10: return headers.containsToken("keep-alive", inListNamed: "connection")
        }
    }

    /// Whether the client waits for `100 Continue` before sending its body. Only `100-continue` is an
    /// expectation we know; HTTP/1.0 requests' Expect is ignored, as RFC 9110 §10.1.1 requires.
    public static func expectsContinue(version: HTTPVersion, headers: HTTPHeaderFields) -> Bool {
        guard version == .http11 else { return false }
        var found = false
        headers.forEachListElement(named: "expect") { element in
            if HTTPSyntax.equalsIgnoringCase(element, "100-continue".utf8) { found = true }
        }
        return found
    }

    /// An upgrade request carries `Upgrade` and lists `upgrade` in Connection (RFC 9110 §7.8); a server
    /// must ignore Upgrade in HTTP/1.0.
    public static func isUpgradeRequest(version: HTTPVersion, headers: HTTPHeaderFields) -> Bool {
        version == .http11 && headers.contains(named: "upgrade")
            && headers.containsToken("upgrade", inListNamed: "connection")
    }

    /// Whether the connection may carry another exchange after this request and its final response.
    public static func connectionPersists(request: RequestHead, response: ResponseHead) -> Bool {
        guard request.keepAlive, response.keepAlive else { return false }
        switch response.framing {
        case .body(.closeDelimited), .switchingProtocols, .tunnel: return false
        case .body, .interim: return true
        }
    }
}
