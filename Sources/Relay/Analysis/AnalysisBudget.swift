/// The hourly budgets of the model: calls, and tokens when a limit is set. A value type told
/// the time (microseconds since 1970), so it is tested without waiting an hour.
///
/// Token counts come from the model's answers, numbers from outside: each is clamped with
/// `Analyst.plausibleTokens` before it is counted, and the sum saturates.
package struct AnalysisBudget: Sendable {
    package let maxCalls: Int
    package let maxTokens: Int?
    private var calls: [Int64] = []
    private var spent: [(time: Int64, tokens: Int)] = []

    static let hour: Int64 = 3_600_000_000

    package init(maxCalls: Int, maxTokens: Int?) {
        self.maxCalls = maxCalls
        self.maxTokens = maxTokens
    }

    /// Whether one more call fits the hour before `now`; when it does, it is counted.
    package mutating func admit(now: Int64) -> Bool {
        forget(before: now)
        guard calls.count < maxCalls else { return false }
        if let maxTokens, tokensThisHour >= maxTokens { return false }
        calls.append(now)
        return true
    }

    /// An answer used `tokens` at `now`.
    package mutating func spend(_ tokens: Int, now: Int64) {
        spent.append((now, Analyst.plausibleTokens(tokens)))
        // A clock stepped back could leave old entries in: never more than the calls allow.
        if spent.count > max(maxCalls, 1) { spent.removeFirst(spent.count - max(maxCalls, 1)) }
    }

    /// Tokens spent within the last hour (as of the last `admit`), saturating.
    package var tokensThisHour: Int {
        spent.reduce(0) { sum, entry in
            let (total, overflow) = sum.addingReportingOverflow(entry.tokens)
            return overflow ? .max : total
        }
    }

    package var callsThisHour: Int { calls.count }

    private mutating func forget(before now: Int64) {
        func old(_ time: Int64) -> Bool {
            let (age, overflow) = now.subtractingReportingOverflow(time)
            // Overflow: the two times are further apart than any clock can be; forget it.
            return overflow || age >= Self.hour || age < -Self.hour
        }
        calls.removeAll(where: old)
        spent.removeAll { old($0.time) }
    }
}
