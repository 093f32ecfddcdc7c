import Dispatch
import Synchronization

/// Device tokens this replica has recently verified against the database, by the token's
/// SHA-256 (hex, as stored), so a device's request does not cost a database round trip.
///
/// Bounds on a revoked token (rotation without grace, or deactivation):
/// - on the replica that revoked it, it stops at once: the route evicts the device's entries
///   after the change commits, and a lookup that was in flight when that happened cannot put
///   its (possibly stale) answer back, because every eviction bumps an epoch that inserts check;
/// - on other replicas, an entry lives at most `ttlSeconds` after the lookup that made it, and
///   never past the end of a rotation's grace period;
/// - telemetry is re-checked against the token in the transaction that stores it, so no replica
///   stores a sample sent with a token revoked before that transaction began.
///
/// Why a TTL and not a change feed (LISTEN/NOTIFY): a feed needs a dedicated connection per
/// replica and, after any interruption, cannot tell what it missed (the whole cache must go);
/// the write path is exact anyway, so the TTL only bounds reads with a revoked token.
final class DeviceTokenCache: Sendable {
    /// How long an entry is trusted after the lookup that made it.
    let ttlSeconds: Double
    /// The most entries kept; beyond it, expired entries are dropped, then arbitrary ones.
    let capacity: Int
    /// Monotonic seconds (tests advance their own).
    private let now: @Sendable () -> Double
    private let state = Mutex(State())

    private struct Entry {
        var deviceID: String
        var expiresAt: Double
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var hashesByDevice: [String: [String]] = [:]
        var epoch: UInt64 = 0
    }

    /// A cache whose entries live `ttlSeconds` (0 turns it off); `now` is a monotonic clock in seconds.
    init(ttlSeconds: Double, capacity: Int = 200_000, now: @escaping @Sendable () -> Double = DeviceTokenCache.monotonicSeconds) {
        self.ttlSeconds = ttlSeconds
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// Seconds since boot, from the monotonic clock.
    static let monotonicSeconds: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The device of a verified, unexpired token, or nil (then ask the database).
    func device(tokenHash: String) -> String? {
        let time = now()
        return state.withLock { state in
            guard let entry = state.entries[tokenHash] else { return nil }
            return entry.expiresAt > time ? entry.deviceID : nil
        }
    }

    /// Taken before asking the database; `insert` drops the answer if anything was evicted since.
    func epoch() -> UInt64 { state.withLock { $0.epoch } }

    /// Remembers that `tokenHash` belongs to `deviceID`, for the TTL or `validForSeconds` if
    /// shorter (a previous token in its grace period), unless an eviction happened after `epoch`.
    func insert(tokenHash: String, deviceID: String, validForSeconds: Double?, epoch: UInt64) {
        guard ttlSeconds > 0 else { return }
        let lifetime = min(ttlSeconds, validForSeconds ?? ttlSeconds)
        guard lifetime > 0 else { return }
        let time = now()
        state.withLock { state in
            guard state.epoch == epoch else { return }
            if state.entries[tokenHash] == nil, state.entries.count >= capacity { Self.makeRoom(&state, time: time, capacity: capacity) }
            if let old = state.entries[tokenHash], old.deviceID != deviceID { Self.unlink(&state, hash: tokenHash, device: old.deviceID) }
            if state.entries[tokenHash]?.deviceID != deviceID { state.hashesByDevice[deviceID, default: []].append(tokenHash) }
            state.entries[tokenHash] = Entry(deviceID: deviceID, expiresAt: time + lifetime)
        }
    }

    /// Forgets every token of `deviceID` (after its credentials were rotated or it was deactivated).
    func evict(deviceID: String) {
        state.withLock { state in
            state.epoch &+= 1
            for hash in state.hashesByDevice.removeValue(forKey: deviceID) ?? [] { state.entries[hash] = nil }
        }
    }

    /// How many entries are held (expired ones included until they are pushed out).
    var count: Int { state.withLock { $0.entries.count } }

    private static func unlink(_ state: inout State, hash: String, device: String) {
        state.hashesByDevice[device]?.removeAll { $0 == hash }
        if state.hashesByDevice[device]?.isEmpty == true { state.hashesByDevice[device] = nil }
    }

    private static func makeRoom(_ state: inout State, time: Double, capacity: Int) {
        for (hash, entry) in state.entries where entry.expiresAt <= time {
            state.entries[hash] = nil
            unlink(&state, hash: hash, device: entry.deviceID)
        }
        // Still full: drop a tenth (arbitrary entries; they are only looked up again).
        guard state.entries.count >= capacity else { return }
        for (hash, entry) in state.entries.prefix(max(1, capacity / 10)) {
            state.entries[hash] = nil
            unlink(&state, hash: hash, device: entry.deviceID)
        }
    }
}
