import Foundation
import SplitPush

/// Webhook requests in flight on one replica, in all and per receiver, shared by its delivery
/// workers: what keeps a slow or failing receiver from holding up anyone else's deliveries.
///
/// - A receiver is an origin (scheme, host, port), not an address: receivers sharing an IP are
///   counted apart.
/// - At most `capacity` requests are in flight in all (the webhook client's connections, so
///   libcurl never queues a request while its timeout runs). Workers reserve slots before they
///   claim, so they never claim more than can be sent.
/// - A receiver has at most `perOrigin` requests in flight. One whose requests time out
///   `timeoutsBeforeLimited` times in a row is limited to one request at a time, still with the
///   full timeout, and is healthy again after any answer (any HTTP status).
/// - Limited receivers together hold at most `limitedCapacity` slots, so however many receivers
///   hang, the rest of the capacity stays with receivers that answer.
///
/// A delivery that cannot be sent now is handed back for `Admission.busy`'s delay without costing
/// an attempt.
final class DeliveryGate: @unchecked Sendable {
    /// Requests in flight at most, across all receivers.
    let capacity: Int
    /// Requests in flight to one receiver at most while it answers.
    let perOrigin: Int
    /// Consecutive timeouts after which a receiver gets one request at a time.
    let timeoutsBeforeLimited: Int
    /// Requests in flight to limited receivers at most, together.
    let limitedCapacity: Int

    private struct Origin {
        var inFlight = 0
        /// Of those, the one admitted while the receiver was limited (0 or 1).
        var limitedInFlight = 0
        var consecutiveTimeouts = 0
        /// When the latest request admitted must have finished.
        var deadline = Date.distantPast
    }

    private let lock = NSLock()
    private var origins: [String: Origin] = [:]
    private var inFlight = 0
    private var reserved = 0
    private var limitedInFlight = 0

    init(capacity: Int, perOrigin: Int = 32, timeoutsBeforeLimited: Int = 2, limitedShare: Double = 0.5) {
        self.capacity = max(1, capacity)
        self.perOrigin = max(1, perOrigin)
        self.timeoutsBeforeLimited = max(1, timeoutsBeforeLimited)
        self.limitedCapacity = max(1, Int(Double(self.capacity) * limitedShare))
    }

    /// Whether a delivery may be sent now.
    enum Admission: Equatable {
        case admitted
        /// Not now: hand it back, due again after this many seconds.
        case busy(retryAfterSeconds: Double)
    }

    /// Reserves up to `count` free slots for a claim; returns how many it got.
    func reserve(upTo count: Int) -> Int {
        lock.withLock {
            let free = max(0, min(count, capacity - inFlight - reserved))
            reserved += free
            return free
        }
    }

    /// Returns reserved slots that were not used.
    func unreserve(_ count: Int) {
        guard count > 0 else { return }
        lock.withLock { reserved = max(0, reserved - count) }
    }

    /// Admits a request to `origin` on a reserved slot (which it then takes), or says when to try
    /// again (the slot stays reserved: return it with `unreserve`).
    func admit(origin key: String, timeoutSeconds: Double, now: Date = Date()) -> Admission {
        lock.withLock {
            var origin = origins[key] ?? Origin()
            let limited = origin.consecutiveTimeouts >= timeoutsBeforeLimited
            if limited {
                // Its one request will have answered or timed out by its deadline.
                guard origin.inFlight == 0 else { return .busy(retryAfterSeconds: max(0.5, origin.deadline.timeIntervalSince(now))) }
                guard limitedInFlight < limitedCapacity else { return .busy(retryAfterSeconds: 1) }
                origin.limitedInFlight += 1
                limitedInFlight += 1
            } else if origin.inFlight >= perOrigin {
                return .busy(retryAfterSeconds: 0.5)
            }
            origin.inFlight += 1
            origin.deadline = max(origin.deadline, now.addingTimeInterval(timeoutSeconds))
            origins[key] = origin
            reserved = max(0, reserved - 1)
            inFlight += 1
            return .admitted
        }
    }

    /// Frees the slot of a finished request and learns from it: a timeout counts against the
    /// receiver, any HTTP answer makes it healthy.
    func finish(origin key: String, timedOut: Bool, answered: Bool) {
        lock.withLock {
            inFlight = max(0, inFlight - 1)
            guard var origin = origins[key] else { return }
            origin.inFlight = max(0, origin.inFlight - 1)
            if origin.limitedInFlight > 0 {
                // A limited receiver is admitted only with nothing else in flight: this was it.
                origin.limitedInFlight -= 1
                limitedInFlight = max(0, limitedInFlight - 1)
            }
            if timedOut {
                origin.consecutiveTimeouts += 1
            } else if answered {
                origin.consecutiveTimeouts = 0
            }
            origins[key] = origin.inFlight == 0 && origin.consecutiveTimeouts == 0 ? nil : origin
        }
    }

    /// Whether `origin` is limited to one request at a time.
    func isLimited(_ origin: String) -> Bool {
        lock.withLock { (origins[origin]?.consecutiveTimeouts ?? 0) >= timeoutsBeforeLimited }
    }

    /// Requests in flight now, and slots reserved for claims.
    var usage: (inFlight: Int, reserved: Int, limited: Int) { lock.withLock { (inFlight, reserved, limitedInFlight) } }
}
