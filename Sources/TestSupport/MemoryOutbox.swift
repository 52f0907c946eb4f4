import Relay
import Synchronization
import Wire

/// The outbox in memory, with the rules `Store` keeps in SQLite (the outbox tests run both):
/// delivery tests without a database and without sleeping.
package final class MemoryOutbox: Outbox {
    private struct State {
        var entries: [Entry] = []
        var incidents: [Int64: Incident] = [:]
        var analyses: [Int64: String] = [:]
        var nextID: Int64 = 1
    }
    private let state = Mutex(State())

    package init() {}

    package func enqueue(_ incident: Incident, channels: [String], now: Int64) throws {
        guard !channels.isEmpty else { return }
        state.withLock { s in
            s.incidents[incident.id] = incident
            Self.queue(incident.id, for: channels, kind: .alert, now: now, in: &s)
        }
    }

    package func enqueueAnalysis(incident: Int64, channels: [String], now: Int64) throws {
        state.withLock { Self.queue(incident, for: channels, kind: .analysis, now: now, in: &$0) }
    }

    private static func queue(_ incident: Int64, for channels: [String], kind: Entry.Kind, now: Int64, in s: inout State) {
        for channel in channels {
            s.entries.append(Entry(id: s.nextID, channel: channel, incident: incident, created: now, attempts: 0, nextAttempt: now,
                                   status: .pending, messageID: nil, lastError: nil, kind: kind))
            s.nextID += 1
        }
    }

    package func nextBatch(channel: String, now: Int64, limit: Int, newMessageID: () -> String) throws -> [Entry] {
        state.withLock { s in
            if let retry = s.entries.first(where: { $0.channel == channel && $0.status == .pending && $0.messageID != nil && $0.nextAttempt <= now }) {
                return s.entries.filter { $0.messageID == retry.messageID && $0.status == .pending }
            }
            let entries = s.entries
            func alertDelivered(_ e: Entry) -> Bool {
                !entries.contains { $0.incident == e.incident && $0.channel == e.channel && $0.kind == .alert && $0.status != .delivered }
            }
            let due = s.entries.indices.filter { i in
                let e = s.entries[i]
                guard e.channel == channel, e.status == .pending, e.messageID == nil, e.nextAttempt <= now else { return false }
                return e.kind == .alert || (limit <= 1 && alertDelivered(e))
            }.prefix(max(0, limit))
            guard !due.isEmpty else { return [] }
            let id = newMessageID()
            for i in due { s.entries[i].messageID = id }
            return due.map { s.entries[$0] }
        }
    }

    package func settle(_ entries: [Entry], delivered: Bool, error: String?, nextAttempt: Int64, now: Int64, maxAttempts: Int) throws {
        let ids = Set(entries.map(\.id))
        state.withLock { s in
            for i in s.entries.indices where ids.contains(s.entries[i].id) {
                s.entries[i].attempts += 1
                if delivered {
                    s.entries[i].status = .delivered
                    s.entries[i].lastError = nil
                    s.incidents[s.entries[i].incident]?.delivered = true
                } else {
                    s.entries[i].lastError = error
                    s.entries[i].nextAttempt = nextAttempt
                    s.entries[i].status = s.entries[i].attempts >= maxAttempts ? .dead : .pending
                }
            }
        }
    }

    package func release(_ entries: [Entry]) throws {
        let ids = Set(entries.map(\.id))
        state.withLock { s in
            for i in s.entries.indices where ids.contains(s.entries[i].id) { s.entries[i].messageID = nil }
        }
    }

    package func postpone(_ entries: [Entry], until: Int64, error: String) throws {
        let ids = Set(entries.map(\.id))
        state.withLock { s in
            for i in s.entries.indices where ids.contains(s.entries[i].id) {
                s.entries[i].nextAttempt = until
                s.entries[i].lastError = error
            }
        }
    }

    package func dropAnalysisFollowUps(incident: Int64, channel: String) throws {
        state.withLock { s in
            for i in s.entries.indices {
                let e = s.entries[i]
                if e.kind == .analysis, e.status == .pending, e.messageID == nil, e.incident == incident, e.channel == channel {
                    s.entries[i].status = .delivered
                    s.entries[i].lastError = "the alert carried the analysis"
                }
            }
        }
    }

    @discardableResult
    package func retryDead(now: Int64) throws -> Int {
        state.withLock { s in
            var count = 0
            for i in s.entries.indices where s.entries[i].status == .dead {
                s.entries[i].status = .pending
                s.entries[i].attempts = 0
                s.entries[i].messageID = nil
                s.entries[i].nextAttempt = now
                count += 1
            }
            return count
        }
    }

    package func outbox(status: Entry.Status?) throws -> [Entry] {
        state.withLock { s in s.entries.filter { status == nil || $0.status == status } }
    }

    package func incidents(ids: [Int64]) throws -> [Incident] {
        state.withLock { s in Set(ids).sorted().compactMap { s.incidents[$0] } }
    }

    package func analysis(incident: Int64) throws -> String? {
        state.withLock { $0.analyses[incident] }
    }
}
