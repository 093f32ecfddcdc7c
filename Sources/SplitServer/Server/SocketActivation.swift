import Foundation
import Logging

/// A listening TCP socket splitd did not bind itself: systemd's socket activation passed it.
package struct InheritedListener: Sendable, Equatable {
    /// The descriptor (3 under systemd), close-on-exec so that nothing splitd starts holds it.
    package let descriptor: CInt
    /// The address it listens on, as `127.0.0.1:8080` or `[::1]:8080`.
    package let address: String
    /// True when only this machine can connect (127.0.0.0/8 or ::1).
    package let isLoopback: Bool
}

/// `sd_listen_fds(3)` without libsystemd: systemd passes listening sockets from descriptor 3 on,
/// announces how many in `LISTEN_FDS` and for which process in `LISTEN_PID`. splitd serves one
/// TCP listening socket; anything else is refused with an error that says what was passed.
package enum SocketActivation {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    package static let firstDescriptor: CInt = 3

    /// The socket passed to this process, or nil when none was (splitd then binds `SPLITD_LISTEN`).
    /// Removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the environment either way,
    /// so that no process splitd starts (the embedded PostgreSQL) takes them for its own.
    package static func takeListener() throws -> InheritedListener? {
        let environment = ProcessInfo.processInfo.environment
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        guard try passedCount(environment: environment, processID: getpid()) != nil else { return nil }
        let listener = try inspect(firstDescriptor)
        _ = fcntl(listener.descriptor, F_SETFD, FD_CLOEXEC)
        return listener
    }

    /// The number of sockets `environment` passes to `processID`: nil when none are meant for it
    /// (no variables, another process's, or zero), 1, or an error for anything else.
    package static func passedCount(environment: [String: String], processID: pid_t) throws -> Int? {
        guard let countText = environment["LISTEN_FDS"] else { return nil }
        guard let pidText = environment["LISTEN_PID"], let pid = pid_t(pidText), pid == processID else { return nil }
        guard let count = Int(countText), count >= 0 else {
            throw ConfigurationError("LISTEN_FDS", "must be the number of sockets passed, got '\(countText)'")
        }
        if count == 0 { return nil }
        guard count == 1 else {
            throw ConfigurationError(
                "LISTEN_FDS", "is \(count): splitd serves one listening socket; give splitd.socket a single ListenStream= line")
        }
        return count
    }

    /// Checks that `descriptor` is a listening TCP socket and reads its address.
    package static func inspect(_ descriptor: CInt) throws -> InheritedListener {
        func refuse(_ reason: String) -> ConfigurationError {
            ConfigurationError("LISTEN_FDS", "passes descriptor \(descriptor), which \(reason); splitd needs a listening TCP socket (ListenStream=)")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw refuse("is not open") }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw refuse("is not a socket") }
        guard socketOption(descriptor, SO_TYPE) == CInt(SOCK_STREAM.rawValue) else { throw refuse("is not a stream socket") }
        guard socketOption(descriptor, SO_ACCEPTCONN) == 1 else { throw refuse("is not listening") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw refuse("has no address") }
        switch CInt(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            let host = withUnsafeBytes(of: address.sin_addr) { numericHost(AF_INET, $0.baseAddress!) }
            return InheritedListener(
                descriptor: descriptor, address: "\(host):\(UInt16(bigEndian: address.sin_port))", isLoopback: host.hasPrefix("127."))
        case AF_INET6:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            let host = withUnsafeBytes(of: address.sin6_addr) { numericHost(AF_INET6, $0.baseAddress!) }
            let loopback = host == "::1" || host.hasPrefix("::ffff:127.")
            return InheritedListener(descriptor: descriptor, address: "[\(host)]:\(UInt16(bigEndian: address.sin6_port))", isLoopback: loopback)
        default:
            throw refuse("is not an IPv4 or IPv6 socket (address family \(storage.ss_family))")
        }
    }

    private static func socketOption(_ descriptor: CInt, _ option: CInt) -> CInt? {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        return getsockopt(descriptor, SOL_SOCKET, option, &value, &length) == 0 ? value : nil
    }

    private static func numericHost(_ family: CInt, _ address: UnsafeRawPointer) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension HTTPListener {
    /// The listener splitd serves on: the socket systemd passed when socket-activated, else a
    /// bind of `SPLITD_LISTEN`. Takes the activation variables out of the environment.
    package static func resolve(_ configuration: ServerConfiguration, logger: Logger) throws -> HTTPListener {
        let listener = try choose(configuration, inherited: try SocketActivation.takeListener())
        switch listener {
        case .bind:
            logger.info("not socket-activated: binding the HTTP listener", metadata: ["address": "\(listener)"])
        case .inherited:
            logger.notice(
                "socket activation: serving on the listening socket systemd passed (SPLITD_LISTEN is not used)",
                metadata: [
                    "address": "\(listener)", "configured": "\(HTTPListener.bind(host: configuration.listenHost, port: configuration.listenPort))",
                ])
        }
        return listener
    }

    /// `inherited` if there is one, held to the admin-token rule by the address it really listens
    /// on (`SPLITD_LISTEN` may say loopback while the socket unit says otherwise); else a bind.
    package static func choose(_ configuration: ServerConfiguration, inherited: InheritedListener?) throws -> HTTPListener {
        guard let inherited else { return .bind(host: configuration.listenHost, port: configuration.listenPort) }
        if configuration.adminTokens.isEmpty && !inherited.isLoopback {
            throw ConfigurationError(
                "SPLITD_ADMIN_TOKEN", "is required: the socket systemd passed listens on \(inherited.address) (not loopback-only)")
        }
        return .inherited(inherited)
    }
}
