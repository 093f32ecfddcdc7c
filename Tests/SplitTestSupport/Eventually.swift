import Foundation

/// Polls `condition` until it holds; gives up after the timeout *and* at least 50 probes (CPU-bound
/// tests running in parallel can hold every thread of the test process past a deadline).
public func eventually(timeoutSeconds: Double = 20, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    var probes = 0
    while Date() < deadline || probes < 50 {
        if try await condition() { return true }
        probes += 1
        try? await Task.sleep(nanoseconds: 100_000_000)
    }
    return try await condition()
}

/// `eventually` for code that cannot await (inside a synchronous database transaction): polls
/// every 10 ms until the timeout *and* at least 200 probes have passed.
public func eventuallyBlocking(timeoutSeconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    var probes = 0
    while Date() < deadline || probes < 200 {
        if condition() { return true }
        probes += 1
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

/// Runs blocking work on its own thread, off Swift's cooperative pool: tests whose tasks block
/// while waiting for each other (two database writers holding transactions open) must not depend
/// on the pool (two threads on a two-core machine, shared with every other test) having a free
/// thread for the second one.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
