import Wire

/// The alerts waiting for each channel, kept until a robot says it has them: what delivery
/// reads and settles. `Store` keeps it in SQLite (in the transaction that stores the
/// incidents); `MemoryOutbox` (TestSupport) keeps it in memory for tests, with the same
/// rules, which the outbox tests run against both.
///
/// The rules:
/// - `nextBatch` gives the entries of an earlier attempt (same message id) first, once due;
///   else up to `limit` due entries, which get a new message id before it returns. A batch of
///   several (a digest) holds alerts only; an analysis follow-up goes alone, and only after
///   its alert was delivered to the same channel.
/// - `settle` counts an attempt; failed entries are due again at `nextAttempt`, and dead after
///   `maxAttempts`. A delivered entry marks its incident delivered.
/// - `release` gives entries a message had no room for back to the queue; `postpone` puts
///   entries back without counting an attempt (the robot is paused).
package protocol Outbox: Sendable {
    typealias Entry = Store.OutboxEntry

    func enqueue(_ incident: Incident, channels: [String], now: Int64) throws
    func enqueueAnalysis(incident: Int64, channels: [String], now: Int64) throws
    func nextBatch(channel: String, now: Int64, limit: Int, newMessageID: () -> String) throws -> [Entry]
    func settle(_ entries: [Entry], delivered: Bool, error: String?, nextAttempt: Int64, now: Int64, maxAttempts: Int) throws
    func release(_ entries: [Entry]) throws
    func postpone(_ entries: [Entry], until: Int64, error: String) throws
    /// Follow-ups of `incident` still queued for `channel` are settled unsent: its alert
    /// carried the analysis.
    func dropAnalysisFollowUps(incident: Int64, channel: String) throws
    /// Dead letters go back to the queue (`relay alerts --retry-dead`).
    @discardableResult
    func retryDead(now: Int64) throws -> Int
    func outbox(status: Entry.Status?) throws -> [Entry]
    /// The incidents the entries name (those still stored).
    func incidents(ids: [Int64]) throws -> [Incident]
    /// The model's analysis stored with an incident.
    func analysis(incident: Int64) throws -> String?
}

extension Store: Outbox {}
