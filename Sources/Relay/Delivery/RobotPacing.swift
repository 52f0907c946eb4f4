/// How fast one robot may be sent to: a value that takes the time and answers, tested with
/// times it is given (no clock, no sleeping).
///
/// A token bucket holds `perMinute / 5` tokens (4 for DingTalk's 20) and refills so that a
/// full bucket plus a minute's refill stay under the limit (15 a minute): a burst gets a few
/// messages at once, then a digest of everything that accumulated every 4 s, never an hour's
/// backlog behind a spent minute. The robot's own sliding minute is checked as well (at most
/// `perMinute - 1` attempts in any 60 s), and a robot that answered with its rate error is
/// paused until a time. Times are microseconds of the wall clock.
struct RobotPacing: Sendable {
    let perMinute: Int
    let capacity: Double
    /// Tokens per microsecond.
    let refillRate: Double
    private(set) var sent: [Int64] = []
    private(set) var pausedUntil: Int64 = 0
    private(set) var tokens: Double
    private var refilled: Int64

    init(perMinute: Int, now: Int64) {
        self.perMinute = perMinute
        capacity = Double(min(4, max(1, perMinute / 5)))
        refillRate = Double(max(1, perMinute - 1 - Int(capacity))) / 60_000_000
        tokens = capacity
        refilled = now
    }

    /// The tokens there are at `now` (0 while paused or while the last minute is full).
    /// One or more: a message may go; two or more: it may carry a single alert, else
    /// everything due goes in one digest.
    mutating func available(now: Int64) -> Double {
        sent.removeAll { now - $0 >= 60_000_000 }
        if now > refilled {
            tokens = min(capacity, tokens + Double(now - refilled) * refillRate)
            refilled = now
        }
        guard now >= pausedUntil, sent.count < perMinute - 1 else { return 0 }
        return tokens
    }

    /// A message was sent at `now`.
    mutating func attempted(at now: Int64) {
        sent.append(now)
        tokens -= 1
    }

    /// The robot answered with its rate error: nothing until `until`.
    mutating func pause(until: Int64) {
        pausedUntil = max(pausedUntil, until)
    }
}

/// When a failed message is tried again: 2^attempts seconds, at most ten minutes, times a
/// jitter (0.75 to 1.25) so that robots behind one proxy do not retry in step.
enum RetryBackoff {
    static func delayMicroseconds(afterAttempts attempts: Int, jitter: Double) -> Int64 {
        let base = min(600.0, Double(1 << min(max(attempts, 0), 20)))
        return Int64(base * min(1.25, max(0.75, jitter)) * 1_000_000)
    }
}
