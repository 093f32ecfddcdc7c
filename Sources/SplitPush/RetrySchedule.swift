import Foundation

/// When failed deliveries are tried again: delays after attempt 1, 2, ..., then dead.
package struct RetrySchedule: Sendable, Equatable {
    /// Delay after each failed attempt; after the last, the delivery is dead.
    package var delays: [TimeInterval]
    /// Random spread, as a fraction (0.2 = ±20%), so retries from many devices do not align.
    package var jitter: Double

    /// 5 s, 30 s, 2 min, 10 min, 1 h, 6 h: seven attempts over about 7 hours, then dead.
    package static let standard = RetrySchedule(delays: [5, 30, 120, 600, 3600, 21_600], jitter: 0.2)

    package init(delays: [TimeInterval], jitter: Double = 0.2) {
        self.delays = delays
        self.jitter = jitter
    }

    /// When to try again after failed attempt number `attempt` (1-based), or nil when done.
    /// A `Retry-After` from the receiver is honoured when it asks for more time.
    package func nextAttempt(after attempt: Int, now: Date = Date(), retryAfter: TimeInterval? = nil) -> Date? {
        guard attempt >= 1 && attempt <= delays.count else { return nil }
        let base = delays[attempt - 1]
        let spread = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter)) : 1
        var delay = base * spread
        if let retryAfter, retryAfter > delay { delay = min(retryAfter, 86_400) }
        return now.addingTimeInterval(delay)
    }
}

/// Parses a `Retry-After` header: delay seconds or an HTTP date.
package func parseRetryAfter(_ value: String, now: Date = Date()) -> TimeInterval? {
    let trimmed = value.trimmingCharacters(in: .whitespaces)
    if let seconds = Double(trimmed), seconds >= 0 { return seconds }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: trimmed) else { return nil }
    return max(0, date.timeIntervalSince(now))
}
