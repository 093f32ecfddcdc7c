import Foundation
import NIOConcurrencyHelpers

/// A listening TCP socket on loopback held by this process, as systemd holds a `.socket` unit's:
/// it is never accepted on here, only passed to the splitd processes started on it.
package struct ListeningSocket: Sendable {
    /// The descriptor (close-on-exec, at 10 or above so that it never sits on the 3 it is passed as).
    package let descriptor: CInt
    package let port: Int

    /// Binds 127.0.0.1:`port` (0: any free port) and listens with `backlog`.
    package static func loopback(port: Int = 0, backlog: CInt = 4096) throws -> ListeningSocket {
        let created = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard created >= 0 else { throw HarnessFailure("socket: \(String(cString: strerror(errno)))") }
        let descriptor = fcntl(created, F_DUPFD_CLOEXEC, 10)
        _ = Glibc.close(created)
        guard descriptor >= 0 else { throw HarnessFailure("fcntl: \(String(cString: strerror(errno)))") }
        var yes: CInt = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, backlog) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            _ = Glibc.close(descriptor)
            throw HarnessFailure("binding 127.0.0.1:\(port): \(reason)")
        }
        return ListeningSocket(descriptor: descriptor, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Closes this process's copy (the socket closes when no process holds it any more).
    package func close() { _ = Glibc.close(descriptor) }
}

/// A splitd process started as systemd starts a service: stdout and stderr to a log file, and,
/// when given a `ListeningSocket`, that socket as descriptor 3 with `LISTEN_FDS=1` and
/// `LISTEN_PID` set to the process's own pid (a shell sets it, then execs splitd in its place).
package final class SplitdProcess: Sendable {
    package let pid: pid_t
    package let logFile: URL
    private let status = NIOLockedValueBox<Int32?>(nil)
    private let exit: Task<Int32, Never>

    /// Starts `binary` with `arguments` and exactly `environment` (plus the activation variables;
    /// a `LISTEN_FDS` in `environment` is kept, to see what splitd makes of a wrong one).
    package init(binary: URL, arguments: [String] = ["serve"], environment: [String: String], socket: ListeningSocket?, logFile: URL) throws {
        var environment = environment
        var argv = [binary.path] + arguments
        if socket != nil {
            if environment["LISTEN_FDS"] == nil { environment["LISTEN_FDS"] = "1" }
            environment["LISTEN_FDNAMES"] = "splitd.socket"
            argv = ["/bin/sh", "-c", "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\""] + argv
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let socket { posix_spawn_file_actions_adddup2(&actions, socket.descriptor, 3) }
        // Nothing else of this process's (test runners hold many descriptors) leaks into splitd.
        guard Self.addCloseFrom(&actions, socket == nil ? 3 : 4) == 0 else { throw HarnessFailure("posix_spawn_file_actions_addclosefrom_np failed") }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArguments + cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard result == 0 else { throw HarnessFailure("starting \(argv[0]): \(String(cString: strerror(result)))") }
        self.pid = pid
        self.logFile = logFile
        let (status, child) = (status, pid)
        exit = Task.detached {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var raw: CInt = 0
                    while waitpid(child, &raw, 0) == -1 && errno == EINTR {}
                    // Exit status, or 128 + the signal that ended it (as a shell reports it).
                    let code = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                    status.withLockedValue { $0 = code }
                    continuation.resume(returning: code)
                }
            }
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), declared only under _GNU_SOURCE.
    private static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return { _, _ in ENOSYS }
        }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt).self)
    }()

    /// True until the process has exited (and been reaped).
    package var isRunning: Bool { status.withLockedValue { $0 == nil } }

    /// Sends `signal` (SIGTERM, SIGKILL) if the process still runs.
    package func signal(_ signal: CInt) {
        if isRunning { kill(pid, signal) }
    }

    /// The exit status (128 + signal when a signal ended it) once the process has exited.
    package func exitStatus() async -> Int32 { await exit.value }

    /// Waits up to `timeoutSeconds` for the exit; nil (after kill -9) if it did not come.
    package func exitStatus(timeoutSeconds: Double) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await self.exit.value }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1e9))
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { signal(SIGKILL) }
            group.cancelAll()
            return first
        }
    }

    /// What the process has logged so far.
    package func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
}

/// The restart harness could not do what it was asked.
package struct HarnessFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
