import Foundation
import Synchronization
import Testing

@testable import SplitServer

/// The device-token cache on a test clock: entries expire after the TTL (or a grace period's
/// end), eviction is immediate, and a lookup in flight during an eviction cannot bring a revoked
/// token back.
@Suite("Device token cache")
struct DeviceTokenCacheTests {
    /// A clock the test moves by hand.
    final class TestClock: Sendable {
        private let seconds = Mutex(1000.0)
        var now: Double { seconds.withLock { $0 } }
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
        var function: @Sendable () -> Double { { [self] in now } }
    }

    @Test("an entry answers until its TTL has passed, and never past a grace period's end")
    func expiry() {
        let clock = TestClock()
        let cache = DeviceTokenCache(ttlSeconds: 10, now: clock.function)
        cache.insert(tokenHash: "current", deviceID: "dev-1", validForSeconds: nil, epoch: cache.epoch())
        cache.insert(tokenHash: "previous", deviceID: "dev-1", validForSeconds: 3, epoch: cache.epoch())
        #expect(cache.device(tokenHash: "current") == "dev-1" && cache.device(tokenHash: "previous") == "dev-1")
        #expect(cache.device(tokenHash: "other") == nil)
        clock.advance(3)
        #expect(cache.device(tokenHash: "previous") == nil, "the grace period ended")
        #expect(cache.device(tokenHash: "current") == "dev-1")
        clock.advance(6.999)
        #expect(cache.device(tokenHash: "current") == "dev-1")
        clock.advance(0.001)
        #expect(cache.device(tokenHash: "current") == nil, "the TTL passed")
    }

    @Test("evicting a device forgets all its tokens at once and only its tokens")
    func eviction() {
        let cache = DeviceTokenCache(ttlSeconds: 60, now: TestClock().function)
        for (hash, device) in [("a1", "dev-a"), ("a2", "dev-a"), ("b1", "dev-b")] {
            cache.insert(tokenHash: hash, deviceID: device, validForSeconds: nil, epoch: cache.epoch())
        }
        cache.evict(deviceID: "dev-a")
        #expect(cache.device(tokenHash: "a1") == nil && cache.device(tokenHash: "a2") == nil)
        #expect(cache.device(tokenHash: "b1") == "dev-b")
        #expect(cache.count == 1)
    }

    @Test("a lookup that was in flight when a device was evicted cannot put its answer back")
    func evictionDuringLookup() {
        let cache = DeviceTokenCache(ttlSeconds: 60, now: TestClock().function)
        let epoch = cache.epoch()  // a request starts asking the database...
        cache.evict(deviceID: "dev-a")  // ...the device's token is revoked meanwhile...
        cache.insert(tokenHash: "a1", deviceID: "dev-a", validForSeconds: nil, epoch: epoch)  // ...and its (stale) answer arrives.
        #expect(cache.device(tokenHash: "a1") == nil)
        cache.insert(tokenHash: "a1", deviceID: "dev-a", validForSeconds: nil, epoch: cache.epoch())
        #expect(cache.device(tokenHash: "a1") == "dev-a", "a lookup that began after the eviction is cached")
    }

    @Test("a TTL of zero caches nothing; a full cache drops expired entries first and stays within its capacity")
    func capacityAndDisabled() {
        let clock = TestClock()
        let off = DeviceTokenCache(ttlSeconds: 0, now: clock.function)
        off.insert(tokenHash: "a", deviceID: "dev-a", validForSeconds: nil, epoch: off.epoch())
        #expect(off.device(tokenHash: "a") == nil && off.count == 0)
        let cache = DeviceTokenCache(ttlSeconds: 10, capacity: 100, now: clock.function)
        for index in 0..<50 { cache.insert(tokenHash: "old\(index)", deviceID: "dev-\(index)", validForSeconds: nil, epoch: cache.epoch()) }
        clock.advance(5)
        for index in 0..<50 { cache.insert(tokenHash: "new\(index)", deviceID: "dev-\(index)", validForSeconds: nil, epoch: cache.epoch()) }
        clock.advance(6)  // the old ones expired, the new ones have 4 s left
        cache.insert(tokenHash: "newest", deviceID: "dev-x", validForSeconds: nil, epoch: cache.epoch())
        #expect(cache.count == 51, "the 50 expired entries made room")
        #expect((0..<50).allSatisfy { cache.device(tokenHash: "new\($0)") == "dev-\($0)" })
        for index in 0..<500 { cache.insert(tokenHash: "more\(index)", deviceID: "dev-m\(index)", validForSeconds: nil, epoch: cache.epoch()) }
        #expect(cache.count <= 100)
        #expect(cache.device(tokenHash: "more499") == "dev-m499")
    }
}
