import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Plumbing
import Synchronization
import Testing
import TestSupport
import Wire

@testable import Relay

/// The outbox's rules, run against the SQLite store and the in-memory twin alike.
@Suite("Outbox")
struct OutboxTests {
    enum Kind: String, CaseIterable, Sendable { case store, memory }

    static func outbox(_ kind: Kind) throws -> any Outbox {
        switch kind {
        case .store:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID().uuidString)")
            return try Store(directory: dir)
        case .memory:
            return MemoryOutbox()
        }
    }

    static let t0: Int64 = 1_795_939_815_000_000

    static func incident(_ id: Int64, severity: Event.Severity = .high) -> Incident {
        Incident(id: id, key: "k\(id)", rule: "brute-force", kind: "brute_force", severity: severity, title: "incident \(id)", count: 5,
                 firstSeen: t0, lastSeen: t0, lastArrival: t0, status: .open, evidence: ["line \(id)"], hosts: ["h"])
    }

    final class IDs: @unchecked Sendable {
        var n = 0
        func next() -> String {
            n += 1
            return "m\(n)"
        }
    }

    @Test(arguments: Kind.allCases)
    func aMessageIsRetriedWithItsIDAndOnlyOnceDue(_ kind: Kind) throws {
        let outbox = try Self.outbox(kind)
        let ids = IDs()
        for id in Int64(1)...3 { try outbox.enqueue(Self.incident(id), channels: ["a", "b"], now: Self.t0) }
        let first = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 1, newMessageID: ids.next)
        #expect(first.map(\.incident) == [1] && first.map(\.messageID) == ["m1"])
        try outbox.settle(first, delivered: false, error: "HTTP 500", nextAttempt: Self.t0 + 2_000_000, now: Self.t0, maxAttempts: 3)
        // Not due yet: the next alert goes meanwhile.
        let second = try outbox.nextBatch(channel: "a", now: Self.t0 + 1_000_000, limit: 1, newMessageID: ids.next)
        #expect(second.map(\.incident) == [2] && second.map(\.messageID) == ["m2"])
        try outbox.settle(second, delivered: true, error: nil, nextAttempt: Self.t0, now: Self.t0, maxAttempts: 3)
        // Due: the same message again, with its id, before anything new.
        let again = try outbox.nextBatch(channel: "a", now: Self.t0 + 2_000_000, limit: 200, newMessageID: ids.next)
        #expect(again.map(\.incident) == [1] && again.map(\.messageID) == ["m1"] && again.map(\.attempts) == [1])
        // Three failures: a dead letter, until retried.
        try outbox.settle(again, delivered: false, error: "HTTP 500", nextAttempt: Self.t0, now: Self.t0, maxAttempts: 3)
        let third = try outbox.nextBatch(channel: "a", now: Self.t0 + 3_000_000, limit: 1, newMessageID: ids.next)
        #expect(third.map(\.incident) == [1])
        try outbox.settle(third, delivered: false, error: "HTTP 500", nextAttempt: Self.t0, now: Self.t0, maxAttempts: 3)
        #expect(try outbox.outbox(status: .dead).map(\.incident) == [1])
        #expect(try outbox.retryDead(now: Self.t0 + 4_000_000) == 1)
        let revived = try outbox.nextBatch(channel: "a", now: Self.t0 + 4_000_000, limit: 200, newMessageID: ids.next)
        #expect(revived.map(\.incident) == [1, 3] && revived.allSatisfy { $0.attempts == 0 } && Set(revived.map(\.messageID)).count == 1)
        // The other channel is untouched by all this.
        #expect(try outbox.outbox(status: .pending).filter { $0.channel == "b" }.map(\.incident) == [1, 2, 3])
        #expect(try outbox.incidents(ids: [3, 1, 99]).map(\.id) == [1, 3])
    }

    @Test(arguments: Kind.allCases)
    func aFollowUpWaitsForItsAlertAndNeverJoinsADigest(_ kind: Kind) throws {
        let outbox = try Self.outbox(kind)
        let ids = IDs()
        try outbox.enqueue(Self.incident(1), channels: ["a"], now: Self.t0)
        try outbox.enqueueAnalysis(incident: 1, channels: ["a"], now: Self.t0)
        try outbox.enqueue(Self.incident(2), channels: ["a"], now: Self.t0)
        // A digest takes the alerts only.
        let digest = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 200, newMessageID: ids.next)
        #expect(digest.map(\.incident) == [1, 2] && digest.allSatisfy { $0.kind == .alert })
        // A message with room for the second only: the first is released; the second's
        // message goes first when asked again (an earlier attempt's id).
        try outbox.release([digest[0]])
        let retried = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 1, newMessageID: ids.next)
        #expect(retried.map(\.incident) == [2] && retried.map(\.messageID) == ["m1"])
        try outbox.settle(retried, delivered: true, error: nil, nextAttempt: Self.t0, now: Self.t0, maxAttempts: 3)
        // The follow-up still waits for its alert.
        let alone = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 1, newMessageID: ids.next)
        #expect(alone.map(\.incident) == [1] && alone.map(\.kind) == [.alert])
        try outbox.settle(alone, delivered: true, error: nil, nextAttempt: Self.t0, now: Self.t0, maxAttempts: 3)
        #expect(try outbox.incidents(ids: [1]).first?.delivered == true)
        let followUp = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 1, newMessageID: ids.next)
        #expect(followUp.map(\.kind) == [.analysis] && followUp.map(\.incident) == [1])
        // Another follow-up dropped: its alert carried the analysis.
        try outbox.enqueue(Self.incident(3), channels: ["a"], now: Self.t0)
        try outbox.enqueueAnalysis(incident: 3, channels: ["a"], now: Self.t0)
        try outbox.dropAnalysisFollowUps(incident: 3, channel: "a")
        #expect(try outbox.outbox(status: .pending).filter { $0.incident == 3 }.map(\.kind) == [.alert])
    }

    @Test(arguments: Kind.allCases)
    func aPostponedEntryKeepsItsAttempts(_ kind: Kind) throws {
        let outbox = try Self.outbox(kind)
        try outbox.enqueue(Self.incident(1), channels: ["a"], now: Self.t0)
        let batch = try outbox.nextBatch(channel: "a", now: Self.t0, limit: 1) { "m" }
        try outbox.postpone(batch, until: Self.t0 + 600_000_000, error: "130101 send too fast")
        #expect(try outbox.nextBatch(channel: "a", now: Self.t0 + 599_000_000, limit: 1) { "n" }.isEmpty)
        let later = try outbox.nextBatch(channel: "a", now: Self.t0 + 600_000_000, limit: 1) { "n" }
        #expect(later.map(\.messageID) == ["m"] && later.map(\.attempts) == [0] && later.map(\.lastError) == ["130101 send too fast"])
    }
}
