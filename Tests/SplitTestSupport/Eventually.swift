import Foundation

/// Polls `condition` every `intervalSeconds` until it holds; gives up once the timeout has passed
/// *and* at least `minimumProbes` probes ran (CPU-bound tests running in parallel can hold every
/// thread of the test process past a deadline, and then no probe would run at all). A condition
/// that throws ends the wait with its error.
package func eventually(
    timeoutSeconds: Double = 20, minimumProbes: Int = 50, intervalSeconds: Double = 0.1, _ condition: () async throws -> Bool
) async rethrows -> Bool {
    var polling = Polling(timeoutSeconds: timeoutSeconds, minimumProbes: minimumProbes)
    while polling.continues {
        if try await condition() { return true }
        polling.probes += 1
        try? await Task.sleep(nanoseconds: UInt64(intervalSeconds * 1e9))
    }
    return try await condition()
}

/// `eventually` for code that cannot await (inside a synchronous database transaction): the same
/// rule, polling every 10 ms with at least 200 probes by default.
package func eventuallyBlocking(
    timeoutSeconds: Double = 20, minimumProbes: Int = 200, intervalSeconds: Double = 0.01, _ condition: () -> Bool
) -> Bool {
    var polling = Polling(timeoutSeconds: timeoutSeconds, minimumProbes: minimumProbes)
    while polling.continues {
        if condition() { return true }
        polling.probes += 1
        Thread.sleep(forTimeInterval: intervalSeconds)
    }
    return condition()
}

/// When to stop polling: the timeout has passed and at least the minimum number of probes ran.
private struct Polling {
    let deadline: Date
    let minimumProbes: Int
    var probes = 0

    init(timeoutSeconds: Double, minimumProbes: Int) {
        deadline = Date().addingTimeInterval(timeoutSeconds)
        self.minimumProbes = minimumProbes
    }

    var continues: Bool { Date() < deadline || probes < minimumProbes }
}

/// Runs blocking work on its own thread, off Swift's cooperative pool: tests whose tasks block
/// while waiting for each other (two database writers holding transactions open) must not depend
/// on the pool (two threads on a two-core machine, shared with every other test) having a free
/// thread for the second one.
package func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
