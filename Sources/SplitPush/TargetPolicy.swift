import Foundation

/// The SSRF guard: which callback URLs splitd may call.
///
/// By default only `https` URLs whose host resolves exclusively to public addresses are allowed:
/// no loopback, private (RFC 1918), carrier-grade NAT, link-local (cloud metadata), unique-local,
/// multicast or unspecified addresses. Hosts and CIDR ranges on the allow-list (e.g. `127.0.0.1`,
/// `10.0.0.0/8`, `receiver.lan`) are exempt from both rules. The resolved address is pinned for
/// the request, so a DNS answer cannot change between the check and the connection.
package struct TargetPolicy: Sendable, Equatable {
    /// Host names allowed as is (lower-cased).
    package var allowedHosts: Set<String>
    /// Address ranges allowed.
    package var allowedRanges: [IPRange]

    package init(allowList: [String] = []) throws {
        var hosts = Set<String>()
        var ranges: [IPRange] = []
        for entry in allowList.map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            if let range = IPRange(entry) {
                ranges.append(range)
            } else if entry.contains("/") || entry.contains(" ") {
                throw WebhookError.invalidAllowListEntry(entry)
            } else {
                hosts.insert(entry.lowercased())
            }
        }
        self.allowedHosts = hosts
        self.allowedRanges = ranges
    }

    /// The longest callback URL accepted, bytes.
    package static let maximumURLLength = 2048

    /// A vetted target: the URL plus the address to connect to.
    package struct Target: Sendable, Equatable {
        package var url: String
        package var host: String
        package var port: Int
        /// Address curl must use (pinned with CURLOPT_RESOLVE).
        package var address: String
    }

    /// Checks `url` and resolves its host; throws `WebhookError` when it may not be called.
    package func vet(_ url: String) throws -> Target {
        guard url.utf8.count <= Self.maximumURLLength else {
            throw WebhookError.invalidURL("longer than \(Self.maximumURLLength) bytes")
        }
        guard !url.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            throw WebhookError.invalidURL("control characters, spaces or line breaks are not allowed in a URL")
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            var host = components.host?.lowercased(), !host.isEmpty
        else {
            throw WebhookError.invalidURL("'\(url)' is not an absolute URL")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard scheme == "https" || scheme == "http" else { throw WebhookError.invalidURL("scheme '\(scheme)' is not http(s)") }
        guard components.user == nil && components.password == nil else { throw WebhookError.invalidURL("credentials in URLs are not allowed") }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65_535).contains(port) else { throw WebhookError.invalidURL("port \(port) is not in 1...65535") }
        let addresses = try Self.resolve(host)
        guard let first = addresses.first else { throw WebhookError.forbiddenTarget("'\(host)' does not resolve") }
        let hostAllowed = allowedHosts.contains(host)
        let allAllowed = hostAllowed || addresses.allSatisfy { address in allowedRanges.contains { $0.contains(address) } }
        if !allAllowed {
            guard scheme == "https" else {
                throw WebhookError.forbiddenTarget("only https callbacks are allowed (add '\(host)' to SPLITD_WEBHOOK_ALLOW to permit it)")
            }
            if let privateAddress = addresses.first(where: { !$0.isPublic }) {
                throw WebhookError.forbiddenTarget(
                    "'\(host)' resolves to non-public address \(privateAddress) (add it to SPLITD_WEBHOOK_ALLOW to permit it)")
            }
        }
        return Target(url: url, host: host, port: port, address: first.description)
    }

    /// All addresses of `host` (a literal address resolves to itself).
    static func resolve(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else { throw WebhookError.forbiddenTarget("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            if let address = entry.pointee.ai_addr, let ip = IPAddress(socketAddress: address), !addresses.contains(ip) { addresses.append(ip) }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96).
package struct IPAddress: Sendable, Equatable, CustomStringConvertible {
    package let bytes: [UInt8]
    package let isIPv4: Bool

    package init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: v4.s_addr) { Array($0) }
            isIPv4 = true
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        bytes = withUnsafeBytes(of: v6) { Array($0) }
        isIPv4 = bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF][...]
    }

    init?(socketAddress: UnsafePointer<sockaddr>) {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(socketAddress.pointee.sa_family) {
        case AF_INET:
            var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        case AF_INET6:
            var address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        default:
            return nil
        }
        self.init(Self.string(buffer))
    }

    /// The text of a NUL-terminated C buffer.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package var description: String {
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        return Self.string(buffer)
    }

    /// Whether the address is globally routable (not loopback, private, link-local, ...).
    package var isPublic: Bool {
        !Self.nonPublicRanges.contains { $0.contains(self) }
    }

    /// Special-purpose ranges (IANA registries): private, loopback, link-local, documentation,
    /// multicast, and every IPv6 form that embeds or translates an IPv4 address (IPv4-compatible
    /// `::a.b.c.d`, 6to4 `2002::/16`, Teredo `2001::/32`, NAT64 `64:ff9b::/96` and the
    /// local-use `64:ff9b:1::/48`), since those can reach IPv4 hosts the IPv4 rules refuse.
    static let nonPublicRanges: [IPRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::1/128", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
        "64:ff9b::/96", "64:ff9b:1::/48",
    ].compactMap(IPRange.init)
}

/// A CIDR range (`10.0.0.0/8`, `fd00::/8`) or a single address.
package struct IPRange: Sendable, Equatable {
    let base: IPAddress
    let prefixLength: Int

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let base = IPAddress(String(parts[0])) else { return nil }
        let maximum = base.isIPv4 ? 32 : 128
        let length = parts.count == 2 ? Int(parts[1]) : maximum
        guard let length, length >= 0, length <= maximum else { return nil }
        self.base = base
        self.prefixLength = base.isIPv4 ? length + 96 : length
    }

    package func contains(_ address: IPAddress) -> Bool {
        var remaining = prefixLength
        for index in 0..<16 where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if base.bytes[index] & mask != address.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}
