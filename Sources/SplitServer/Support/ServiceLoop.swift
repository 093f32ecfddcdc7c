import Foundation
import ServiceLifecycle

/// Sleeps for `seconds`, returning early when graceful shutdown starts.
func sleepUnlessShuttingDown(_ seconds: TimeInterval) async {
    _ = try? await cancelWhenGracefulShutdown {
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
    }
}

/// Whether the service should keep looping.
var keepRunning: Bool { !Task.isCancelled && !Task.isShuttingDownGracefully }
