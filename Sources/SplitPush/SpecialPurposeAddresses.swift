/// The addresses the SSRF guard refuses (unless allow-listed), in one table: every entry of the
/// IANA IPv4 and IPv6 Special-Purpose Address Registries, multicast, the deprecated IPv6
/// site-local and IPv4-compatible/-translated forms, and, for IPv6, everything outside global
/// unicast (2000::/3). Registry entries marked globally reachable (anycast services such as PCP,
/// TURN, AS112, AMT, ORCHIDv2) are refused too: none of them is a webhook receiver.
///
/// An IPv4-mapped address (`::ffff:a.b.c.d`) is the IPv4 address it maps, and is judged as that
/// address. Every other IPv6 form that embeds or translates an IPv4 address (IPv4-compatible,
/// IPv4-translated, NAT64, 6to4, Teredo) is refused whole, whatever it embeds: a relay or
/// translator would carry the request to an IPv4 address the IPv4 rules are there to refuse.
package enum SpecialPurposeAddresses {
    /// One refused range: its CIDR, the registry's name for it, and where it is defined.
    package struct Entry: Sendable, CustomStringConvertible {
        package let range: IPRange
        package let name: String
        package let reference: String

        package var description: String { "\(range) \(name) (\(reference))" }
    }

    /// IPv4 (IANA IPv4 Special-Purpose Address Registry, then multicast).
    package static let ipv4: [Entry] = [
        entry("0.0.0.0/8", "This network", "RFC 791"),
        entry("0.0.0.0/32", "This host on this network", "RFC 1122"),
        entry("10.0.0.0/8", "Private-Use", "RFC 1918"),
        entry("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
        entry("127.0.0.0/8", "Loopback", "RFC 1122"),
        entry("169.254.0.0/16", "Link Local", "RFC 3927"),
        entry("172.16.0.0/12", "Private-Use", "RFC 1918"),
        entry("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
        entry("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335"),
        entry("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
        entry("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),
        entry("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
        entry("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880"),
        entry("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880"),
        entry("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
        entry("192.31.196.0/24", "AS112-v4", "RFC 7535"),
        entry("192.52.193.0/24", "AMT", "RFC 7450"),
        entry("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
        entry("192.168.0.0/16", "Private-Use", "RFC 1918"),
        entry("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
        entry("198.18.0.0/15", "Benchmarking", "RFC 2544"),
        entry("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
        entry("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
        entry("240.0.0.0/4", "Reserved", "RFC 1112"),
        entry("255.255.255.255/32", "Limited Broadcast", "RFC 919"),
        entry("224.0.0.0/4", "Multicast", "RFC 5771"),
    ]

    /// IPv6 (IANA IPv6 Special-Purpose Address Registry, then the deprecated and multicast
    /// ranges, then what lies outside global unicast). IPv4-mapped addresses never reach this
    /// list: they are judged by `ipv4`.
    package static let ipv6: [Entry] = [
        entry("::1/128", "Loopback Address", "RFC 4291"),
        entry("::/128", "Unspecified Address", "RFC 4291"),
        entry("64:ff9b::/96", "IPv4-IPv6 Translation", "RFC 6052"),
        entry("64:ff9b:1::/48", "IPv4-IPv6 Translation (local use)", "RFC 8215"),
        entry("100::/64", "Discard-Only Address Block", "RFC 6666"),
        entry("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
        entry("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
        entry("2001::/32", "TEREDO", "RFC 4380"),
        entry("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),
        entry("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
        entry("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
        entry("2001:2::/48", "Benchmarking", "RFC 5180"),
        entry("2001:3::/32", "AMT", "RFC 7450"),
        entry("2001:4:112::/48", "AS112-v6", "RFC 7535"),
        entry("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
        entry("2001:20::/28", "ORCHIDv2", "RFC 7343"),
        entry("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"),
        entry("2001:db8::/32", "Documentation", "RFC 3849"),
        entry("2002::/16", "6to4", "RFC 3056"),
        entry("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
        entry("3fff::/20", "Documentation", "RFC 9637"),
        entry("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
        entry("fc00::/7", "Unique-Local", "RFC 4193"),
        entry("fe80::/10", "Link-Local Unicast", "RFC 4291"),
        entry("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
        entry("ff00::/8", "Multicast", "RFC 4291"),
        entry("::/96", "IPv4-Compatible (deprecated)", "RFC 4291"),
        entry("::ffff:0:0:0/96", "IPv4-Translated", "RFC 2765"),
        entry("::/3", "Not global unicast (reserved, IPv4-embedding forms)", "RFC 4291"),
        entry("4000::/2", "Not global unicast", "RFC 4291"),
        entry("8000::/1", "Not global unicast", "RFC 4291"),
    ]

    /// The entry that refuses `address`, or nil when it is public.
    package static func entry(containing address: IPAddress) -> Entry? {
        (address.isIPv4 ? ipv4 : ipv6).first { $0.range.contains(address) }
    }

    private static func entry(_ cidr: String, _ name: String, _ reference: String) -> Entry {
        guard let range = IPRange(cidr) else { preconditionFailure("bad CIDR in the special-purpose table: \(cidr)") }
        return Entry(range: range, name: name, reference: reference)
    }
}
