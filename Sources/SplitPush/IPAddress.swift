import Foundation

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96: an IPv4-mapped IPv6
/// address and the IPv4 address it maps are the same destination, and the same value here).
package struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    package let bytes: [UInt8]
    /// Whether it is an IPv4 address (or an IPv4-mapped IPv6 address).
    package let isIPv4: Bool

    /// Parses dotted-decimal IPv4 or IPv6 text (`inet_pton`).
    package init?(_ text: String) {
        if let v4 = IPAddress(ipv4: text) {
            self = v4
        } else if let v6 = IPAddress(ipv6: text) {
            self = v6
        } else {
            return nil
        }
    }

    /// Parses strict dotted-decimal IPv4 text.
    package init?(ipv4 text: String) {
        var v4 = in_addr()
        guard inet_pton(AF_INET, text, &v4) == 1 else { return nil }
        self.init(bytes: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: v4.s_addr) { Array($0) })
    }

    /// Parses IPv6 text (an IPv4-mapped one becomes its IPv4 address).
    package init?(ipv6 text: String) {
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self.init(bytes: withUnsafeBytes(of: v6) { Array($0) })
    }

    /// The IPv4 address with this 32-bit value (host order).
    package init(ipv4 value: UInt32) {
        self.init(bytes: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) })
    }

    /// The address with these 16 bytes.
    package init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "an address is 16 bytes")
        self.bytes = bytes
        isIPv4 = bytes[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF])
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

    /// Dotted decimal for IPv4, RFC 5952 text for IPv6.
    package var description: String {
        isIPv4 ? bytes[12...].map(String.init).joined(separator: ".") : ipv6Text
    }

    /// The IPv6 text (`::ffff:127.0.0.1` for an IPv4 address).
    package var ipv6Text: String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        return Self.string(buffer)
    }

    /// The address `offset` after this one (wrapping), for walking range edges.
    package func advanced(by offset: Int) -> IPAddress {
        var bytes = self.bytes
        var carry = offset
        var index = 15
        while carry != 0 && index >= 0 {
            let sum = Int(bytes[index]) + carry
            bytes[index] = UInt8(truncatingIfNeeded: sum)
            carry = sum >> 8  // arithmetic shift: a borrow is -1
            index -= 1
        }
        return IPAddress(bytes: bytes)
    }

    /// Whether splitd may call it without an allow-list entry: not in any special-purpose range
    /// (`SpecialPurposeAddresses`).
    package var isPublic: Bool { SpecialPurposeAddresses.entry(containing: self) == nil }
}

/// A CIDR range (`10.0.0.0/8`, `fd00::/8`) or a single address.
package struct IPRange: Sendable, Equatable, CustomStringConvertible {
    package let base: IPAddress
    /// Prefix length over the 16 bytes (an IPv4 range's plus 96).
    package let prefixLength: Int
    /// Whether it was written as an IPv4 range.
    package let isIPv4: Bool

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let base = IPAddress(String(first)) else { return nil }
        // `::ffff:0:0/96` is an IPv6 range even though its base reads as IPv4.
        let writtenIPv4 = IPAddress(ipv4: String(first)) != nil
        let maximum = writtenIPv4 ? 32 : 128
        let length = parts.count == 2 ? Int(parts[1]) : maximum
        guard let length, length >= 0, length <= maximum else { return nil }
        self.base = base
        self.isIPv4 = writtenIPv4
        self.prefixLength = writtenIPv4 ? length + 96 : length
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

    /// The first address of the range.
    package var first: IPAddress { IPAddress(bytes: masked(set: false)) }
    /// The last address of the range.
    package var last: IPAddress { IPAddress(bytes: masked(set: true)) }

    private func masked(set: Bool) -> [UInt8] {
        var bytes = base.bytes
        var remaining = prefixLength
        for index in 0..<16 {
            let bits = max(0, min(8, remaining))
            let keep = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            bytes[index] = set ? (bytes[index] & keep) | ~keep : bytes[index] & keep
            remaining -= 8
        }
        return bytes
    }

    package var description: String { isIPv4 ? "\(base)/\(prefixLength - 96)" : "\(base.ipv6Text)/\(prefixLength)" }
}
