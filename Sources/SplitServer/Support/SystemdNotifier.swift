import Foundation

/// `sd_notify` in a few lines: datagrams to `$NOTIFY_SOCKET` (no libsystemd needed).
/// Does nothing when splitd does not run under systemd with `Type=notify`.
package enum SystemdNotifier {
    /// Sends `state` (e.g. `READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=...`); false if not sent.
    @discardableResult
    package static func notify(_ state: String) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let sent = state.withCString { message in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, message, strlen(message), 0, $0, length) }
            }
        }
        return sent >= 0
    }

    /// Half the watchdog interval systemd expects pings at, when `WATCHDOG_USEC` is set for us.
    package static var watchdogInterval: TimeInterval? {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["WATCHDOG_USEC"], let microseconds = Double(text), microseconds > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return microseconds / 1e6 / 2
    }
}
