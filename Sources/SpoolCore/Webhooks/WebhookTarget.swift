import Foundation

/// Where a webhook may be sent: an http(s) URL, and (unless the host allows private
/// targets) never an address on loopback, link-local or a private range, so that a job's
/// `webhook` is not a way for whoever submits jobs into the network Spool runs in.
public enum WebhookTarget {
    public static let maxURLLength = 2_048

    /// The form a webhook URL takes, as the API document states it: http(s), a host name or
    /// IPv4 address, an optional port, path and query of URL characters (no user info, no
    /// fragment, no percent sign).
    public static let pattern = #"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$"#

    /// What is wrong with `url` as a webhook target, nil if nothing.
    public static func urlProblem(_ url: String) -> String? {
        guard url.unicodeScalars.count <= maxURLLength else { return "is longer than \(maxURLLength) characters" }
        guard let regex = try? Regex(pattern), (try? regex.wholeMatch(in: url)) != nil else {
            return "must be an http:// or https:// URL: a host name or IPv4 address, an optional port, path and query (no user, fragment or percent sign)"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return "must be an absolute http:// or https:// URL with a host" }
        if components.user != nil || components.password != nil { return "must not carry a user name or password" }
        return nil
    }

    /// The URL's host, without IPv6 brackets.
    public static func host(of url: String) -> String? {
        guard let host = URLComponents(string: url)?.host else { return nil }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// Why `url` may not be sent to without `--webhook-allow-private`, judged from the URL
    /// alone: a host named `localhost`, or a literal address in a private range. A name
    /// is judged again, by the addresses it resolves to, before each try.
    public static func literalRefusal(_ url: String) -> String? {
        guard let host = host(of: url)?.lowercased() else { return nil }
        if host == "localhost" || host.hasSuffix(".localhost") {
            return "\(host) is this machine; webhooks to loopback and private addresses are refused unless the host runs with --webhook-allow-private"
        }
        return addressRefusal(host)
    }

    /// Why the numeric address `text` may not be sent to, nil if it may (or is not an address).
    public static func addressRefusal(_ text: String) -> String? {
        guard let range = privateRange(of: text) else { return nil }
        return "\(text) is a \(range) address; webhooks to loopback and private addresses are refused unless the host runs with --webhook-allow-private"
    }

    /// The kind of non-public range a numeric IPv4 or IPv6 address is in, nil for a public
    /// address or a text that is no address.
    public static func privateRange(of text: String) -> String? {
        if let v4 = ipv4(text) { return privateRange(v4) }
        guard let v6 = ipv6(text) else { return nil }
        if v6[0..<10].allSatisfy({ $0 == 0 }) && v6[10] == 0xff && v6[11] == 0xff {
            return privateRange(Array(v6[12..<16]))  // ::ffff:a.b.c.d
        }
        if v6.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if v6[0..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return "loopback" }
        if v6[0] & 0xfe == 0xfc { return "unique-local (private)" }
        if v6[0] == 0xfe && v6[1] & 0xc0 == 0x80 { return "link-local" }
        if v6[0] == 0xff { return "multicast" }
        return nil
    }

    private static func privateRange(_ a: [UInt8]) -> String? {
        switch (a[0], a[1]) {
        case (0, _): "unspecified"
        case (10, _), (172, 16...31), (192, 168): "private"
        case (100, 64...127): "shared (carrier-grade NAT)"
        case (127, _): "loopback"
        case (169, 254): "link-local"
        case (192, 0) where a[2] == 0: "IETF protocol"
        case (198, 18...19): "benchmarking"
        case (224...239, _): "multicast"
        case (240...255, _): "reserved"
        default: nil
        }
    }

    private static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { $0.allSatisfy(\.isNumber) ? UInt8($0) : nil }
        return bytes.count == 4 ? bytes : nil
    }

    private static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        let text = text.split(separator: "%").first.map(String.init) ?? text  // a zone: fe80::1%eth0
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}

/// The one rule for where this host sends webhooks, applied wherever a target is given or
/// used (`--webhook`, a job's `webhook` at submission, each try): a URL of the right form,
/// and, unless private targets are allowed (`--webhook-allow-private`), no loopback,
/// link-local or private address, judged from the URL itself and, before each try, from
/// every address its name resolves to.
public struct WebhookTargetRule: Sendable, Hashable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool = false) {
        self.allowPrivate = allowPrivate
    }

    /// Why `url` may not be a target, judged from the URL alone; nil if it may.
    public func problem(_ url: String) -> String? {
        if let problem = WebhookTarget.urlProblem(url) { return "the URL \(problem)" }
        return allowPrivate ? nil : WebhookTarget.literalRefusal(url)
    }

    /// Whether the addresses of `url`'s host must be checked before a try: a name, where
    /// private targets are refused.
    public func mustCheckAddresses(of url: String) -> Bool {
        guard !allowPrivate, let host = WebhookTarget.host(of: url) else { return false }
        return WebhookTarget.privateRange(of: host) == nil && WebhookTarget.literalRefusal(url) == nil
    }

    /// Why `host`, resolving to `addresses`, may not be sent to; nil if it may.
    public func refusal(host: String, addresses: [String]) -> String? {
        guard !allowPrivate, let refusal = addresses.lazy.compactMap(WebhookTarget.addressRefusal).first else { return nil }
        return "\(host) resolves to \(refusal)"
    }
}
