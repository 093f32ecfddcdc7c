import CSpawn
import Foundation

/// Runs a program to completion with `posix_spawn` and `waitpid`.
///
/// Unlike Foundation's `Process`, the child inherits no descriptor beyond stdin (/dev/null) and
/// stdout/stderr (a temporary file): a daemon it forks (pg_ctl starting postgres) can hold nothing
/// of ours open, so waiting for the child never hangs on a grandchild.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `executable arguments...` from `/`, returning its exit status and combined output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("splitd-child-\(UUID().uuidString).out").path
        defer { unlink(outputPath) }
        let argv = [executable] + arguments
        let environmentList = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let spawned = withCStringArray(argv) { argvPointer in
            withCStringArray(environmentList) { environmentPointer in
                splitd_spawn(executable, argvPointer, environmentPointer, outputPath, &pid)
            }
        }
        guard spawned == 0 else {
            throw Failure(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure(description: "waiting for \(executable): \(String(cString: strerror(errno)))") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitStatus, output)
    }
}

/// Calls `body` with a NULL-terminated C array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
