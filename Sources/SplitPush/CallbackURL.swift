import Foundation

/// A callback URL read the one way splitd reads it, at registration and at every delivery, and
/// written back out in the form libcurl is given, so that what registration accepts is what
/// curl connects to.
///
/// Accepted: `http` or `https`, `://`, a host, an optional port, then a path and query.
/// - The host is a DNS name (ASCII letters, digits, `-`, `_`, dots; labels of 1 to 63
///   characters, 253 in all; one trailing dot allowed), an IPv4 address in any spelling libcurl
///   and `inet_aton` read (`127.1`, `0x7f000001`, `0177.0.0.1`, `2130706433`: written back as
///   dotted decimal), or an IPv6 address in brackets (no zone id). An IPv4 address in
///   brackets, percent-encoding or NUL in a host, and non-ASCII host names (write them in
///   punycode, `xn--...`) are refused: curl either cannot use them or reads them otherwise.
/// - No user or password, no fragment, no empty port; a port is 1...65535.
/// - Only printable ASCII; `%` only as `%XX` in the path and query, and none of the characters
///   RFC 3986 never allows there (`"<>\^`{|}` and brackets).
package struct CallbackURL: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`.
    package var scheme: String
    /// The host: a lower-case DNS name, or an address literal's canonical text (dotted decimal, or
    /// for a bracketed literal its IPv6 text without the brackets, `::ffff:127.0.0.1` included).
    package var host: String
    /// The address when the host is a literal.
    package var literal: IPAddress?
    package var port: Int
    /// Path and query, starting with `/` (`/` when the URL has none).
    package var pathAndQuery: String

    /// The longest callback URL accepted, bytes.
    package static let maximumLength = 2048

    /// The URL given to libcurl: scheme, host (IPv6 in brackets), the port unless it is the
    /// scheme's default, path and query.
    package var description: String {
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(hostForURL)\(port == defaultPort ? "" : ":\(port)")\(pathAndQuery)"
    }

    /// The receiver: scheme, host and port. Requests in flight and timeouts are counted per
    /// origin, not per address: two receivers on one IP are two receivers.
    package var origin: String { "\(scheme)://\(hostForURL):\(port)" }

    /// The host as written in a URL (IPv6 literals in brackets).
    package var hostForURL: String { host.contains(":") ? "[\(host)]" : host }

    /// Parses `text`; throws `WebhookError.invalidURL` saying what is wrong.
    package init(_ text: String) throws(WebhookError) {
        guard text.utf8.count <= Self.maximumLength else { throw .invalidURL("longer than \(Self.maximumLength) bytes") }
        if let scalar = text.unicodeScalars.first(where: { $0.value < 0x21 || $0.value == 0x7F }) {
            let what = scalar.value == 0 ? "NUL" : scalar.value == 0x20 ? "spaces" : "control characters or line breaks"
            throw .invalidURL("\(what) are not allowed in a URL")
        }
        guard text.unicodeScalars.allSatisfy(\.isASCII) else {
            throw .invalidURL("non-ASCII characters are not allowed: write the host in punycode (xn--...) and percent-encode the path")
        }
        let bytes = Array(text.utf8)
        guard let separator = text.range(of: "://") else { throw .invalidURL("'\(text)' is not an absolute http(s) URL") }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { throw .invalidURL("scheme '\(scheme)' is not http(s)") }
        guard !bytes.contains(UInt8(ascii: "#")) else { throw .invalidURL("fragments ('#...') are never sent; remove it") }
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var pathAndQuery = String(rest[authorityEnd...])
        guard !authority.contains("\\") else { throw .invalidURL("a backslash is not allowed in the host") }
        guard !authority.contains("@") else { throw .invalidURL("credentials in URLs are not allowed") }

        var hostText: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL("'[' without ']' in the host") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL("unexpected '\(after)' after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                hostText = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                hostText = authority
            }
        }
        let bracketed = authority.hasPrefix("[")
        let (host, literal) = try Self.host(hostText, bracketed: bracketed)
        var port = scheme == "https" ? 443 : 80
        if let portText {
            guard !portText.isEmpty else { throw .invalidURL("the port after ':' is empty") }
            guard portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let number = Int(portText), (1...65_535).contains(number) else {
                throw .invalidURL("port \(portText) is not in 1...65535")
            }
            port = number
        }
        try Self.checkPathAndQuery(pathAndQuery)
        if pathAndQuery.isEmpty || pathAndQuery.hasPrefix("?") { pathAndQuery = "/" + pathAndQuery }
        self.scheme = scheme
        self.host = host
        self.literal = literal
        self.port = port
        self.pathAndQuery = pathAndQuery
        try Self.checkLibcurlAgrees(text, self)
    }

    /// libcurl must read both the URL as given and the form it is handed (`description`) as this
    /// scheme, host and port; a URL it refuses or reads otherwise is refused here.
    private static func checkLibcurlAgrees(_ text: String, _ url: CallbackURL) throws(WebhookError) {
        for candidate in [text, url.description] {
            switch LibcurlURL.parts(candidate) {
            case .failure(let refusal):
                throw .invalidURL("libcurl cannot use it: \(refusal.reason)")
            case .success(let parts):
                var curlHost = Substring(parts.host)
                let bracketed = curlHost.hasPrefix("[") && curlHost.hasSuffix("]")
                if bracketed { curlHost = curlHost.dropFirst().dropLast() }
                let sameHost: Bool
                if let literal = url.literal {
                    sameHost = (try? Self.host(curlHost, bracketed: bracketed))?.1 == literal
                } else {
                    sameHost = curlHost.lowercased() == url.host
                }
                guard parts.scheme == url.scheme, parts.port == url.port, sameHost else {
                    throw .invalidURL("libcurl reads it as \(parts.scheme)://\(parts.host):\(parts.port), not \(url.origin)")
                }
            }
        }
    }

    /// The host's canonical text and, for a literal, its address.
    private static func host(_ text: Substring, bracketed: Bool) throws(WebhookError) -> (String, IPAddress?) {
        guard !text.isEmpty else { throw .invalidURL("the host is empty") }
        guard !text.contains("%") else {
            throw .invalidURL("percent-encoded characters and zone ids are not allowed in a host ('\(text)')")
        }
        if bracketed {
            guard let address = IPAddress(ipv6: String(text)) else {
                throw .invalidURL(
                    IPAddress(ipv4: String(text)) != nil
                        ? "'[\(text)]': an IPv4 address is written without brackets" : "'[\(text)]' is not an IPv6 address")
            }
            return (address.ipv6Text, address)
        }
        if let invalid = text.first(where: { !($0.isASCIILetterOrDigit || $0 == "-" || $0 == "_" || $0 == ".") }) {
            throw .invalidURL("'\(invalid)' is not allowed in a host name ('\(text)'); IPv6 addresses go in brackets")
        }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        // All labels numbers: an IPv4 address, in whichever spelling inet_aton (and curl) reads.
        if labels.allSatisfy({ isNumberLabel($0) }) {
            guard let address = parseIPv4(labels) else { throw .invalidURL("'\(text)' is not a valid IPv4 address") }
            return (address.description, address)
        }
        var name = labels
        if name.count > 1 && name.last == "" { name.removeLast() }  // one trailing dot: a fully qualified name
        guard text.utf8.count <= 254, name.allSatisfy({ (1...63).contains($0.utf8.count) }) else {
            throw .invalidURL("'\(text)' is not a valid host name (labels of 1 to 63 characters, 253 in all)")
        }
        guard let last = name.last, !last.allSatisfy(\.isASCIIDigit) else {
            throw .invalidURL("'\(text)' is neither a host name nor an IPv4 address")
        }
        return (text.lowercased(), nil)
    }

    /// A label of an IPv4 spelling: decimal, octal (leading 0) or hex (`0x`) digits.
    private static func isNumberLabel(_ label: Substring) -> Bool {
        let lower = label.lowercased()
        if lower.hasPrefix("0x") { return lower.dropFirst(2).allSatisfy(\.isHexDigit) }
        return !label.isEmpty && label.allSatisfy(\.isASCIIDigit)
    }

    /// `inet_aton`'s reading: `a` (32 bits), `a.b` (8.24), `a.b.c` (8.8.16) or `a.b.c.d`.
    private static func parseIPv4(_ labels: [Substring]) -> IPAddress? {
        guard (1...4).contains(labels.count) else { return nil }
        var values: [UInt64] = []
        for label in labels {
            let lower = label.lowercased()
            let value: UInt64?
            if lower.hasPrefix("0x") {
                let digits = lower.dropFirst(2)
                value = digits.isEmpty || digits.count > 8 ? nil : UInt64(digits, radix: 16)
            } else if lower.count > 1 && lower.hasPrefix("0") {
                value = lower.count > 12 ? nil : UInt64(lower.dropFirst(), radix: 8)
            } else {
                value = lower.count > 10 ? nil : UInt64(lower)
            }
            guard let value else { return nil }
            values.append(value)
        }
        let lastBits = UInt64(8 * (5 - labels.count))
        guard values.dropLast().allSatisfy({ $0 <= 255 }), values.last! < (1 << lastBits) else { return nil }
        var number = values.last!
        for (index, value) in values.dropLast().enumerated() { number |= value << UInt64(24 - 8 * index) }
        return IPAddress(ipv4: UInt32(number))
    }

    /// RFC 3986 path and query characters, `%` only as `%XX`.
    private static func checkPathAndQuery(_ text: String) throws(WebhookError) {
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, bytes[index + 1].isHexDigit, bytes[index + 2].isHexDigit else {
                    throw .invalidURL("'%' must be followed by two hex digits in the path")
                }
                index += 3
                continue
            }
            if Array(#""<>\^`{|}[]"#.utf8).contains(byte) {
                throw .invalidURL("'\(Character(Unicode.Scalar(byte)))' is not allowed in a URL path or query; percent-encode it")
            }
            index += 1
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIILetterOrDigit: Bool { isASCII && (isLetter || isNumber) }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
