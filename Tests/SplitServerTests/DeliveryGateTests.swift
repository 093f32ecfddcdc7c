import Foundation
import Testing

@testable import SplitServer

/// The per-receiver bookkeeping that keeps a slow receiver's deliveries from holding up anyone
/// else's (the real-receiver version of these promises is in `DeliveryFairnessTests`).
@Suite("Delivery gate")
struct DeliveryGateTests {
    @Test("a receiver is its origin: two ports on one address are two receivers, each with its own limit")
    func perOrigin() {
        let gate = DeliveryGate(capacity: 100, perOrigin: 2)
        #expect(gate.reserve(upTo: 10) == 10)
        #expect(gate.admit(origin: "http://127.0.0.1:1000", timeoutSeconds: 10) == .admitted)
        #expect(gate.admit(origin: "http://127.0.0.1:1000", timeoutSeconds: 10) == .admitted)
        #expect(gate.admit(origin: "http://127.0.0.1:1000", timeoutSeconds: 10) == .busy(retryAfterSeconds: 0.5))
        #expect(gate.admit(origin: "http://127.0.0.1:2000", timeoutSeconds: 10) == .admitted, "another port is another receiver")
        #expect(gate.usage.inFlight == 3 && gate.usage.reserved == 7)
        gate.unreserve(7)
        #expect(gate.usage.reserved == 0)
    }

    @Test("claims never exceed the capacity: reserved and in-flight slots count, and come back when freed")
    func capacity() {
        let gate = DeliveryGate(capacity: 4)
        #expect(gate.reserve(upTo: 3) == 3)
        #expect(gate.reserve(upTo: 3) == 1, "another worker gets only what is left")
        #expect(gate.reserve(upTo: 3) == 0)
        for port in 0..<4 { #expect(gate.admit(origin: "http://a:\(port)", timeoutSeconds: 10) == .admitted) }
        #expect(gate.reserve(upTo: 3) == 0, "all four in flight")
        gate.finish(origin: "http://a:0", timedOut: false, answered: true)
        #expect(gate.reserve(upTo: 3) == 1)
    }

    @Test("a receiver that keeps timing out gets one request at a time with the full timeout, and is healthy after any answer")
    func limitedThenRecovers() {
        let gate = DeliveryGate(capacity: 100, perOrigin: 8, timeoutsBeforeLimited: 2)
        let slow = "https://slow.example:443", now = Date()
        _ = gate.reserve(upTo: 100)
        for _ in 0..<2 {
            #expect(gate.admit(origin: slow, timeoutSeconds: 10, now: now) == .admitted)
            gate.finish(origin: slow, timedOut: true, answered: false)
        }
        #expect(gate.isLimited(slow))
        #expect(gate.admit(origin: slow, timeoutSeconds: 10, now: now) == .admitted)
        // The second waits until the first has answered or timed out: its full timeout.
        #expect(gate.admit(origin: slow, timeoutSeconds: 10, now: now.addingTimeInterval(3)) == .busy(retryAfterSeconds: 7))
        // It answers in 3 s (inside the 10 s timeout): healthy again, several at a time.
        gate.finish(origin: slow, timedOut: false, answered: true)
        #expect(!gate.isLimited(slow))
        for _ in 0..<8 { #expect(gate.admit(origin: slow, timeoutSeconds: 10) == .admitted) }
    }

    @Test("connection errors neither limit a receiver nor clear its timeouts; an HTTP error answer clears them")
    func whatCounts() {
        let gate = DeliveryGate(capacity: 10, timeoutsBeforeLimited: 2)
        _ = gate.reserve(upTo: 10)
        let origin = "http://r:1"
        #expect(gate.admit(origin: origin, timeoutSeconds: 1) == .admitted)
        gate.finish(origin: origin, timedOut: true, answered: false)
        #expect(gate.admit(origin: origin, timeoutSeconds: 1) == .admitted)
        gate.finish(origin: origin, timedOut: false, answered: false)  // connection refused
        #expect(gate.admit(origin: origin, timeoutSeconds: 1) == .admitted)
        gate.finish(origin: origin, timedOut: true, answered: false)
        #expect(gate.isLimited(origin))
        #expect(gate.admit(origin: origin, timeoutSeconds: 1) == .admitted)
        gate.finish(origin: origin, timedOut: false, answered: true)  // a 503 is an answer
        #expect(!gate.isLimited(origin))
    }

    @Test("receivers that keep timing out hold at most half the capacity together; the rest stays with receivers that answer")
    func limitedShare() {
        let gate = DeliveryGate(capacity: 10, perOrigin: 4, timeoutsBeforeLimited: 1)
        for index in 0..<20 {
            #expect(gate.reserve(upTo: 1) == 1)
            #expect(gate.admit(origin: "http://slow:\(index)", timeoutSeconds: 1) == .admitted)
            gate.finish(origin: "http://slow:\(index)", timedOut: true, answered: false)
        }
        gate.unreserve(10)
        #expect(gate.reserve(upTo: 20) == 10)
        var admitted = 0
        for index in 0..<20 where gate.admit(origin: "http://slow:\(index)", timeoutSeconds: 1) == .admitted { admitted += 1 }
        #expect(admitted == 5, "half of the 10 slots")
        #expect(gate.usage.limited == 5)
        for index in 0..<5 { #expect(gate.admit(origin: "http://fast:\(index)", timeoutSeconds: 1) == .admitted) }
        gate.finish(origin: "http://slow:0", timedOut: true, answered: false)
        #expect(gate.usage.limited == 4 && gate.usage.inFlight == 9)
    }
}
