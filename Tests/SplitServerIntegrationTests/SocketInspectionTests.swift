import Foundation
import Testing

@testable import SplitServer

/// Which inherited descriptors splitd serves on, judged on real sockets bound on loopback.
@Suite("Socket activation: inherited descriptors")
struct SocketInspectionTests {
    @Test("a listening TCP socket is accepted with its address; a UDP, unbound, non-listening, unix, closed or non-socket descriptor is refused")
    func inspect() throws {
        let listening = try Self.socket(AF_INET, SOCK_STREAM, host: "127.0.0.1", listen: true)
        defer { close(listening) }
        let accepted = try SocketActivation.inspect(listening)
        #expect(accepted.address.hasPrefix("127.0.0.1:") && accepted.isLoopback)
        let wildcard = try Self.socket(AF_INET, SOCK_STREAM, host: "0.0.0.0", listen: true)
        defer { close(wildcard) }
        #expect(try SocketActivation.inspect(wildcard).isLoopback == false)
        let ipv6 = try Self.socket(AF_INET6, SOCK_STREAM, host: "::1", listen: true)
        defer { close(ipv6) }
        #expect(try SocketActivation.inspect(ipv6).address.hasPrefix("[::1]:"))

        let udp = try Self.socket(AF_INET, SOCK_DGRAM, host: "127.0.0.1", listen: false)
        let bound = try Self.socket(AF_INET, SOCK_STREAM, host: "127.0.0.1", listen: false)
        // A listening unix socket, bound to an abstract name the kernel picks.
        let unix = Glibc.socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
        var unixAddress = sockaddr_un()
        unixAddress.sun_family = sa_family_t(AF_UNIX)
        let unixBound = withUnsafePointer(to: &unixAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(unix, $0, socklen_t(MemoryLayout<sa_family_t>.size)) }
        }
        #expect(unixBound == 0 && listen(unix, 1) == 0)
        var pipeEnds: [CInt] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { for descriptor in [udp, bound, unix, pipeEnds[0], pipeEnds[1]] { close(descriptor) } }
        let closed = dup(pipeEnds[0])
        close(closed)
        for (descriptor, reason) in [
            (udp, "not a stream socket"), (bound, "not listening"), (unix, "not an IPv4 or IPv6 socket"), (pipeEnds[0], "not a socket"),
            (closed, "not open"),
        ] {
            let error = #expect(throws: ConfigurationError.self) { try SocketActivation.inspect(descriptor) }
            #expect(error?.description.contains(reason) == true, "\(reason): \(String(describing: error))")
        }
    }

    /// A socket of `family`/`type` bound to `host` on any port, listening if `listen`.
    static func socket(_ family: CInt, _ type: __socket_type, host: String, listen: Bool) throws -> CInt {
        let descriptor = Glibc.socket(family, CInt(type.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket failed") }
        var result: CInt
        if family == AF_INET {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        if result == 0 && listen { result = Glibc.listen(descriptor, 16) }
        guard result == 0 else {
            close(descriptor)
            throw HarnessError("bind/listen on \(host) failed: \(String(cString: strerror(errno)))")
        }
        return descriptor
    }
}
