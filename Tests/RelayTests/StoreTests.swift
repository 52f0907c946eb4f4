import Foundation
import Testing
import TestSupport
import Wire

@testable import Relay

/// The pipeline from socket to store: events stored, incidents correlated, kept across a
/// restart of the relay, pruned by retention.
@Suite("Relay store", .serialized)
struct StoreTests {
    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("relay-store-\(UUID().uuidString)")
    }

    @Test func edgeFramesBecomeAStoredIncidentThatSurvivesARestart() async throws {
        let dir = Self.directory()
        let relay = try await RunningRelay.start(dataDirectory: dir)
        // Six failed attempts from 203.0.113.9 in one frame: a brute force.
        try await Send.udp(try EdgeFixture.messages(events: (0..<6).map(EdgeFixture.event), sequence: 1), port: relay.udpPort)
        await relay.wait { relay.incidents.count == 1 }
        await relay.stop()
        let opened = try #require(relay.incidents.first)
        #expect(opened.kind == "brute_force")
        #expect(opened.count == 6)
        #expect(opened.edge == "web-01")

        var store = try Store(directory: dir, readOnly: true)
        #expect(try store.counts() == Store.Counts(events: 6, incidents: 1, openIncidents: 1))
        let stored = try #require(try store.incident(id: opened.id))
        #expect(stored.count == 6 && stored.sourceIP == "203.0.113.9" && stored.evidence.count == 6)
        let events = try store.recentEvents()
        #expect(events.count == 6)
        #expect(events.allSatisfy { $0.edge == "web-01" && $0.sender?.contains("127.0.0.1") == true })
        #expect(Set(events.map(\.event)) == Set((0..<6).map(EdgeFixture.event)), "every field is stored as it came")

        // Restarted on the same data: the open incident keeps counting; no new alert.
        let again = try await RunningRelay.start(dataDirectory: dir)
        try await Send.udp(try EdgeFixture.messages(events: (6..<9).map(EdgeFixture.event), sequence: 2), port: again.udpPort)
        await again.wait { again.incidentChanges.count == 3 }
        await again.stop()
        #expect(again.incidentChanges.allSatisfy { if case .updated = $0 { true } else { false } })
        store = try Store(directory: dir, readOnly: true)
        #expect(try store.incident(id: opened.id)?.count == 9)
        #expect(try store.counts().incidents == 1)
    }

    @Test func replayProtectionIsKeptInTheStoreAcrossARestart() async throws {
        let dir = Self.directory()
        let frame = try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 7)
        let relay = try await RunningRelay.start(dataDirectory: dir)
        try await Send.udp(frame, port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 }
        await relay.stop()
        let again = try await RunningRelay.start(dataDirectory: dir)
        try await Send.udp(frame, port: again.udpPort)
        await again.wait { again.counter("relay_duplicates_total") == 1 }
        await again.stop()
        #expect(again.frames.isEmpty)
        #expect(again.counter("relay_duplicates_total") == 1)
    }

    @Test func retentionRemovesOldEventsAndClosedIncidents() throws {
        let store = try Store(directory: Self.directory())
        let day: Int64 = 86_400_000_000
        let now: Int64 = 1_795_939_815_000_000
        let old = Store.StoredEvent(event: EdgeFixture.event(1), arrival: now - 40 * day)
        let recent = Store.StoredEvent(event: EdgeFixture.event(2), arrival: now - day)
        func incident(_ id: Int64, _ status: Incident.Status, _ arrival: Int64) -> Incident {
            Incident(id: id, key: "k\(id)", rule: "brute-force", kind: "brute_force", severity: .high, title: "t", count: 5,
                     firstSeen: arrival, lastSeen: arrival, lastArrival: arrival, status: status, evidence: ["a \"quoted\" line"], hosts: ["h"])
        }
        try store.write(events: [old, recent], incidents: [incident(1, .closed, now - 200 * day), incident(2, .open, now - 200 * day), incident(3, .closed, now)])
        let removed = try store.prune(eventsBefore: now - 30 * day, incidentsBefore: now - 180 * day)
        #expect(removed.events == 1 && removed.incidents == 1)
        #expect(try store.recentEvents().map(\.arrival) == [now - day])
        #expect(try store.recentIncidents().map(\.id).sorted() == [2, 3], "open incidents are never pruned")
        #expect(try store.incident(id: 2)?.evidence == ["a \"quoted\" line"])
        #expect(try store.maxIncidentID() == 3)
    }

    /// Every field of an event comes back as it was written: text (empty, non-ASCII, quotes),
    /// numbers, absent values; across more rows than one INSERT carries. (Text with a NUL
    /// inside is stored whole but read back up to the NUL: GRDB reads C strings.)
    @Test func eventsComeBackFieldForField() throws {
        let store = try Store(directory: Self.directory())
        let events = (0..<(Store.rowsPerInsert * 2 + 3)).map { n -> Store.StoredEvent in
            var e = Event(kind: .login, outcome: n % 2 == 0 ? .failure : nil, timeMicroseconds: n % 3 == 0 ? nil : Int64(n) * 1_000_000,
                          host: "web-\(n)", program: "sshd", pid: Int64(n), user: n % 5 == 0 ? "" : "用户\(n)", targetUser: n % 4 == 0 ? nil : "t-\(n)",
                          group: "wheel", sourceIP: "2001:db8::\(n)", sourcePort: Int64(40000 + n), method: "password", logonType: n % 2 == 0 ? 3 : nil,
                          rule: "sshd.failed", severity: .low, raw: "Nov 29 16:10:15 web-\(n) sshd[\(n)]: Failed password 'quoted' \"too\"")
            e.pid = n % 7 == 0 ? nil : Int64(n)
            return Store.StoredEvent(event: e, arrival: 1_795_939_815_000_000 + Int64(n), edge: n % 2 == 0 ? "edge-\(n)" : nil, sender: "10.0.0.\(n % 250)")
        }
        try store.write(events: events, incidents: [])
        let back = try store.recentEvents(limit: 1000).reversed()
        #expect(back.count == events.count)
        for (written, read) in zip(events, back) {
            #expect(read.event == written.event, "\(read.event) != \(written.event)")
            #expect(read.arrival == written.arrival && read.edge == written.edge && read.sender == written.sender)
        }
    }

    @Test func readOnlyOpeningOfAMissingStoreSaysWhy() {
        #expect(throws: RelayError.self) { try Store(directory: Self.directory(), readOnly: true) }
    }
}

/// Issue 10, class 3: the store has a size quota as well as retention.
@Suite("Store quota")
struct StoreQuotaTests {
    @Test func theOldestEventsGoWhenTheStoreIsOverItsQuota() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quota-\(UUID().uuidString)")
        let store = try Store(directory: dir)
        let raw = String(repeating: "x", count: 900)
        for batch in 0..<20 {
            let events = (0..<1000).map { n in
                Store.StoredEvent(event: Event(kind: .login, outcome: .failure, timeMicroseconds: Int64(batch * 1000 + n), host: "h", raw: raw),
                                  arrival: Int64(batch * 1000 + n), edge: nil, sender: "10.0.0.1")
            }
            try store.write(events: events, incidents: [])
        }
        let before = try store.usedBytes()
        #expect(before > 18_000_000)
        // Deleted 10,000 at a time: one round brings 20,000 events to 10,000.
        let target = before / 10 * 6
        let deleted = try store.shrink(toBytes: target)
        #expect(deleted == 10_000)
        #expect(try store.usedBytes() <= target)
        // The newest stay.
        let kept = try store.recentEvents(limit: 1)
        #expect(kept.first?.arrival == 19_999)
    }
}
