import Foundation

/// The SSRF guard: which callback URLs splitd may call.
///
/// A URL is read by `CallbackURL` (the same reading at registration and at delivery). By
/// default only `https` URLs whose host resolves exclusively to public addresses are allowed:
/// none in `SpecialPurposeAddresses` (loopback, private, shared, link-local and cloud metadata,
/// documentation, benchmarking, multicast, reserved, every IPv6 form that embeds or translates an
/// IPv4 address, and all IPv6 outside global unicast). Hosts and CIDR ranges on the allow-list
/// (e.g. `127.0.0.1`, `10.0.0.0/8`, `receiver.lan`) are exempt from both rules. The resolved
/// address is pinned for the request, so a DNS answer cannot change between the check and the
/// connection.
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
    package static let maximumURLLength = CallbackURL.maximumLength

    /// A vetted target: the URL as libcurl gets it, plus the address to connect to.
    package struct Target: Sendable, Equatable {
        /// The parsed callback URL.
        package var callback: CallbackURL
        /// Address curl must use (pinned with CURLOPT_RESOLVE when the host is a name).
        package var address: String

        /// The URL handed to libcurl.
        package var url: String { callback.description }
        package var host: String { callback.host }
        package var port: Int { callback.port }
        /// The receiver (scheme, host, port).
        package var origin: String { callback.origin }
    }

    /// Checks `url` and resolves its host; throws `WebhookError` when it may not be called.
    /// Resolution blocks the calling thread: delivery uses `vet(_:timeoutSeconds:)`.
    package func vet(_ url: String) throws -> Target {
        let callback = try CallbackURL(url)
        return try check(callback, addresses: try Self.resolve(callback))
    }

    /// `vet` for a parsed URL, resolving off Swift's cooperative threads and giving up after
    /// `timeoutSeconds` (`WebhookError.unresolvable`): a receiver whose DNS hangs holds only its
    /// own delivery.
    package func vet(_ callback: CallbackURL, timeoutSeconds: Double) async throws -> Target {
        if callback.literal != nil { return try check(callback, addresses: try Self.resolve(callback)) }
        let addresses = try await Self.resolveOffPool(callback, timeoutSeconds: timeoutSeconds)
        return try check(callback, addresses: addresses)
    }

    /// Applies the rules to a URL and the addresses its host resolved to.
    func check(_ callback: CallbackURL, addresses: [IPAddress]) throws -> Target {
        let host = callback.host
        guard let first = addresses.first else { throw WebhookError.unresolvable("'\(host)' has no address") }
        let hostAllowed = allowedHosts.contains(host) || allowedHosts.contains(callback.hostForURL)
        let allAllowed = hostAllowed || addresses.allSatisfy { address in allowedRanges.contains { $0.contains(address) } }
        if !allAllowed {
            guard callback.scheme == "https" else {
                throw WebhookError.forbiddenTarget("only https callbacks are allowed (add '\(host)' to SPLITD_WEBHOOK_ALLOW to permit it)")
            }
            for address in addresses {
                if let entry = SpecialPurposeAddresses.entry(containing: address) {
                    throw WebhookError.forbiddenTarget(
                        """
                        '\(host)' resolves to non-public address \(address) (\(entry.range): \(entry.name), \(entry.reference)); \
                        add it to SPLITD_WEBHOOK_ALLOW to permit it
                        """)
                }
            }
        }
        return Target(callback: callback, address: first.description)
    }

    /// The addresses of a parsed URL's host (a literal resolves to itself).
    static func resolve(_ callback: CallbackURL) throws -> [IPAddress] {
        if let literal = callback.literal { return [literal] }
        return try resolve(callback.host)
    }

    /// `resolve` on a Dispatch thread (getaddrinfo blocks), abandoned after `timeoutSeconds`.
    static func resolveOffPool(_ callback: CallbackURL, timeoutSeconds: Double) async throws -> [IPAddress] {
        let once = ResumeOnce<[IPAddress]>()
        return try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            DispatchQueue.global(qos: .utility).async {
                once.resume(with: Result { try resolve(callback) })
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0, timeoutSeconds)) {
                once.resume(with: .failure(WebhookError.unresolvable("resolving '\(callback.host)' took longer than \(timeoutSeconds) s")))
            }
        }
    }

    /// All addresses of `host` (a literal address resolves to itself).
    static func resolve(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else { throw WebhookError.unresolvable("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))") }
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

/// Resumes a continuation with the first result it is given and ignores the rest.
private final class ResumeOnce<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, Error>?

    func set(_ continuation: CheckedContinuation<Value, Error>) { lock.withLock { self.continuation = continuation } }

    func resume(with result: Result<Value, Error>) {
        let continuation = lock.withLock {
            defer { self.continuation = nil }
            return self.continuation
        }
        continuation?.resume(with: result)
    }
}
