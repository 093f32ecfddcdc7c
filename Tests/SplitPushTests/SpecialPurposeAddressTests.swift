import Foundation
import Testing

@testable import SplitPush

/// The SSRF guard's refusal list, entry by entry, against the IANA IPv4 and IPv6 Special-Purpose
/// Address Registries as transcribed here (independently of `SpecialPurposeAddresses`): for each
/// range its first, last and a middle address are refused with an empty allow-list, and the
/// addresses just outside it are accepted where they are global.
@Suite("SSRF guard: the special-purpose registries")
struct SpecialPurposeAddressTests {
    /// IANA IPv4 Special-Purpose Address Registry, every entry, plus multicast.
    static let ipv4Registry = [
        "0.0.0.0/8", "0.0.0.0/32", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24",
        "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32", "224.0.0.0/4",
    ]
    /// IANA IPv6 Special-Purpose Address Registry, every entry except IPv4-mapped (tested apart),
    /// plus deprecated site-local, multicast, IPv4-compatible and IPv4-translated.
    static let ipv6Registry = [
        "::1/128", "::/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001::/32", "2001:1::1/128",
        "2001:1::2/128", "2001:1::3/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:10::/28", "2001:20::/28", "2001:30::/28",
        "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
        "::/96", "::ffff:0:0:0/96",
    ]
    /// Only global unicast is callable in IPv6.
    static let globalUnicast = IPRange("2000::/3")!

    /// The test's own judgement: is `address` a global address splitd may call?
    static func isGlobal(_ address: IPAddress) -> Bool {
        if address.isIPv4 { return !ipv4Registry.contains { IPRange($0)!.contains(address) } }
        return globalUnicast.contains(address) && !ipv6Registry.contains { IPRange($0)!.contains(address) }
    }

    static func url(_ address: IPAddress) -> String { address.isIPv4 ? "https://\(address)/hook" : "https://[\(address.ipv6Text)]/hook" }

    static func refused(_ address: IPAddress) -> Bool {
        do {
            _ = try TargetPolicy().vet(url(address))
            return false
        } catch WebhookError.forbiddenTarget {
            return true
        } catch {
            Issue.record("\(url(address)): \(error)")
            return false
        }
    }

    /// The middle of a range (first with the bit after the prefix set), or its first address.
    static func middle(_ range: IPRange) -> IPAddress {
        guard range.prefixLength < 128 else { return range.first }
        var bytes = range.first.bytes
        bytes[range.prefixLength / 8] |= 0x80 >> UInt8(range.prefixLength % 8)
        return IPAddress(bytes: bytes)
    }

    @Test("every registry entry: first, last and middle refused; neighbours accepted where global", arguments: ipv4Registry + ipv6Registry)
    func entry(cidr: String) throws {
        let range = try #require(IPRange(cidr))
        for address in [range.first, range.last, Self.middle(range)] {
            #expect(Self.refused(address), "\(cidr): \(address) must be refused")
        }
        for neighbour in [range.first.advanced(by: -1), range.last.advanced(by: 1)] where neighbour.isIPv4 == range.isIPv4 {
            #expect(Self.refused(neighbour) == !Self.isGlobal(neighbour), "\(cidr): neighbour \(neighbour) global: \(Self.isGlobal(neighbour))")
        }
    }

    @Test("the code's table holds every registry entry")
    func tableComplete() {
        let table = Set((SpecialPurposeAddresses.ipv4 + SpecialPurposeAddresses.ipv6).map { $0.range.description })
        for cidr in Self.ipv4Registry + Self.ipv6Registry {
            #expect(table.contains(IPRange(cidr)!.description), "\(cidr) missing from SpecialPurposeAddresses")
        }
    }

    @Test("IPv6 outside global unicast (2000::/3) is refused: its edges, and the edges of 2000::/3 accepted")
    func outsideGlobalUnicast() {
        for text in ["1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "4000::", "4000::1", "8000::", "ffff::1", "1::", "::2", "::ffff:1:0:0", "fe00::"] {
            #expect(Self.refused(IPAddress(text)!), "\(text)")
        }
        for text in ["2000::", "2000::1", "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2606:4700::1111", "2001:4860:4860::8888", "2001:200::"] {
            #expect(!Self.refused(IPAddress(text)!), "\(text)")
        }
    }

    @Test("IPv4-mapped addresses are judged as the IPv4 address they map")
    func mapped() {
        for text in [
            "::ffff:0.0.0.0", "::ffff:255.255.255.255", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:192.88.99.1",
        ] {
            #expect(Self.refused(IPAddress(text)!), "\(text)")
        }
        #expect(!Self.refused(IPAddress("::ffff:8.8.8.8")!))
        // Just outside ::ffff:0:0/96.
        #expect(Self.refused(IPAddress("::fffe:ffff:ffff")!) && Self.refused(IPAddress("::1:0:0:0")!))
    }

    @Test(
        "every IPv6 embedding or translation of a forbidden IPv4 address is refused",
        arguments: [
            "::ffff:127.0.0.1", "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "::127.0.0.1", "::7f00:1", "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001::7f00:1",
        ])
    func embeddings(text: String) throws {
        #expect(Self.refused(try #require(IPAddress(text))), "\(text)")
    }

    @Test(
        "the hosts the reliability issue found accepted with an empty allow-list are refused",
        arguments: [
            "https://[::ffff:0:7f00:1]/x", "https://[fec0::1]/x", "https://192.88.99.1/x", "https://[2001:10::1]/x", "https://[2001:20::1]/x",
            "https://[3fff::1]/x", "https://8.8.8.8%00.evil.com/x",
        ])
    func reported(url: String) throws {
        #expect(throws: WebhookError.self) { try TargetPolicy().vet(url) }
    }

    @Test("the refusal names the registry entry")
    func reason() {
        #expect {
            try TargetPolicy().vet("https://192.88.99.1/x")
        } throws: { error in
            "\(error)".contains("192.88.99.0/24") && "\(error)".contains("6to4 Relay Anycast") && "\(error)".contains("RFC 7526")
        }
    }
}
