import Detection
import Edge
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
import WindowsEvents
import Wire

/// A Windows event log channel as Windows' pull subscription presents it: records with
/// growing ids; a subscription starts after a bookmark's record (strictly: when that record
/// is gone, at the oldest one, as WindowsEventLog asks), at the oldest, or with what is
/// written from now on; it then hands over each record's XML as it is written. Everything
/// the edge does from the XML on is the product's code; only EvtSubscribe, EvtNext, EvtRender
/// and EvtQuery are played here.
final class ScriptedChannel: EventLogSubscription, @unchecked Sendable {
    private struct State {
        var records: [(id: UInt64, xml: String)] = []
        var subscriptions: [String?] = []
        var failAfter: Int?
        var handed = 0
        var following = false
    }
    private let state = Mutex(State())

    func write(_ xml: String, id: UInt64) { state.withLock { $0.records.append((id, xml)) } }
    /// Drops the records up to `id`, as a log that wraps or is cleared does.
    func drop(through id: UInt64) { state.withLock { $0.records.removeAll { $0.id <= id } } }
    /// The bookmarks each subscription started from, in order.
    var subscriptions: [String?] { state.withLock { $0.subscriptions } }
    /// Records `deliver` has accepted, over all subscriptions.
    var handed: Int { state.withLock { $0.handed } }
    var following: Bool { state.withLock { $0.following } }
    /// The next subscription fails (as EvtNext would) after delivering this many records.
    func failNext(after count: Int) { state.withLock { $0.failAfter = count } }

    struct Failed: Error {}

    func newestRecordID(channel: String) throws -> UInt64? { state.withLock { $0.records.last?.id } }

    func follow(channel: String, after bookmark: String?, fromOldest: Bool, into sink: EventLogSource) throws {
        var next = state.withLock { s -> Int in
            s.subscriptions.append(bookmark)
            s.following = true
            if let bookmark, let id = EventLogSource.recordID(inBookmark: bookmark) {
                guard let i = s.records.firstIndex(where: { $0.id == id }) else { return 0 }
                return i + 1
            }
            return fromOldest ? 0 : s.records.count
        }
        defer { state.withLock { $0.following = false } }
        var delivered = 0
        while !sink.isStopped {
            let (record, failAfter) = state.withLock { s in (next < s.records.count ? s.records[next] : nil, s.failAfter) }
            if let failAfter, delivered >= failAfter {
                state.withLock { $0.failAfter = nil }
                throw Failed()
            }
            guard let record else {
                Thread.sleep(forTimeInterval: 0.005)
                continue
            }
            guard sink.deliver(record.xml) else { return }
            state.withLock { $0.handed += 1 }
            next += 1
            delivered += 1
        }
    }

    /// A failed network logon (4625) as EvtRender writes it; the port names the record.
    static func failedLogon(_ n: Int, id: UInt64) -> String {
        """
        <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' \
        Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4625</EventID><Version>0</Version><Level>0</Level><Task>12544</Task>\
        <Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime='2026-12-07T10:00:\(String(format: "%02d", n % 60)).123456700Z'/>\
        <EventRecordID>\(id)</EventRecordID><Correlation/><Execution ProcessID='636' ThreadID='3720'/><Channel>Security</Channel>\
        <Computer>WS01.corp.example</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-0-0</Data>\
        <Data Name='TargetUserName'>user\(n)</Data><Data Name='TargetDomainName'>CORP</Data><Data Name='Status'>0xc000006d</Data>\
        <Data Name='FailureReason'>%%2313</Data><Data Name='SubStatus'>0xc000006a</Data><Data Name='LogonType'>3</Data>\
        <Data Name='AuthenticationPackageName'>NTLM</Data><Data Name='WorkstationName'>KALI</Data><Data Name='IpAddress'>192.0.2.77</Data>\
        <Data Name='IpPort'>\(40000 + n)</Data></EventData></Event>
        """
    }
}

@Suite("Windows event log channels", .serialized)
struct EventLogTests {
    static let xmlSamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/windows-xml").standardizedFileURL

    @Test func bookmarksAreWhatWindowsRendersAndDamagedOnesAreRefused() {
        let b = EventLogSource.bookmark(channel: "Security", recordID: 175703)
        #expect(b == "<BookmarkList><Bookmark Channel='Security' RecordId='175703' IsCurrent='true'/></BookmarkList>")
        #expect(EventLogSource.recordID(inBookmark: b) == 175703)
        // A channel name is escaped, not allowed to close the attribute.
        let odd = EventLogSource.bookmark(channel: "A'B<C>&\u{1}", recordID: 1)
        #expect(odd.contains("Channel='A&apos;B&lt;C&gt;&amp;?'"))
        #expect(EventLogSource.recordID(inBookmark: odd) == 1)
        for bad in ["", "12:34", "<BookmarkList></BookmarkList>", "<BookmarkList><Bookmark RecordId='x'/></BookmarkList>",
                    "<BookmarkList><Bookmark RecordId='99999999999999999999999'/></BookmarkList>",
                    "<BookmarkList><Bookmark RecordId='12/></BookmarkList>"] {
            #expect(EventLogSource.recordID(inBookmark: bad) == nil, "\(bad)")
        }
    }

    /// Windows' own samples (Microsoft's documentation of 4740 and 4725) through the source:
    /// the events, the bookmark after each, and what cannot be an event counted.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: xmlSamples.path), "../shared/testdata/windows-xml is absent"))
    func windowsSamplesBecomeEventsWithABookmarkEach() throws {
        let channel = ScriptedChannel()
        let source = EventLogSource(channel: "Security", cursor: nil, startAt: .beginning, rules: .builtin, subscription: channel) {}
        for name in ["event-4740.xml", "event-4725.xml"] {
            #expect(source.deliver(try String(contentsOf: Self.xmlSamples.appendingPathComponent(name), encoding: .utf8)))
        }
        #expect(source.deliver("<Event><System><EventID>4625"))  // cut off
        #expect(source.deliver("not xml at all"))
        #expect(source.deliver(String(repeating: "x", count: EventLogSource.maxEventBytes + 1)))
        let records = source.read(limit: 10)
        #expect(records.map(\.0.eventID) == [4740, 4725])
        #expect(records.map(\.1) == [
            EventLogSource.bookmark(channel: "Security", recordID: 175703), EventLogSource.bookmark(channel: "Security", recordID: records[1].0.recordID),
        ])
        #expect(source.position == records.last?.1)
        let kinds = records.compactMap { source.detect($0.0) }.map(\.kind)
        #expect(kinds == [.accountLocked, .accountDisabled])
        #expect(source.counters.malformed == 2 && source.counters.overlong == 1)
        #expect(source.read(limit: 10).isEmpty)
    }

    /// A burst larger than the queue waits in the channel: the subscription's thread blocks in
    /// `deliver` with `maxQueued` events queued, until the reader takes some; `stop()` frees it.
    @Test func aBurstWaitsInTheChannelNotInMemory() async throws {
        let channel = ScriptedChannel()
        let total = EventLogSource.maxQueued * 3
        for n in 0..<total { channel.write(ScriptedChannel.failedLogon(n, id: UInt64(n + 1)), id: UInt64(n + 1)) }
        let source = EventLogSource(channel: "Security", cursor: nil, startAt: .beginning, rules: .builtin, subscription: channel) {}
        source.start()
        defer { source.stop() }
        // Nobody reads: the channel stops handing over at the bound.
        let stalled = ContinuousClock.now + .seconds(10)
        while channel.handed < EventLogSource.maxQueued, ContinuousClock.now < stalled { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(channel.handed == EventLogSource.maxQueued)
        var taken = source.read(limit: 100_000).map(\.0.recordID)
        #expect(taken.count == EventLogSource.maxQueued)
        let deadline = ContinuousClock.now + .seconds(20)
        while taken.count < 2 * EventLogSource.maxQueued + 10, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let batch = source.read(limit: 100_000)
            #expect(batch.count <= EventLogSource.maxQueued)
            taken += batch.map(\.0.recordID)
        }
        #expect(taken == (1...UInt64(taken.count)).map { $0 })
        // Blocked again on a full queue; stop() ends the subscription.
        while channel.handed < total, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(channel.following)
        source.stop()
        while channel.following, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!channel.following)
        #expect(channel.subscriptions == [nil])
    }

    /// The log wrapped (or was cleared) while the edge was away: the bookmarked record is gone,
    /// so the subscription starts at the oldest record left, and the ids skipped are counted.
    @Test func aWrappedLogResumesAtItsOldestRecordAndCountsWhatWasLost() async throws {
        let channel = ScriptedChannel()
        for id in UInt64(1)...20 { channel.write(ScriptedChannel.failedLogon(Int(id), id: id), id: id) }
        channel.drop(through: 12)
        let source = EventLogSource(
            channel: "Security", cursor: EventLogSource.bookmark(channel: "Security", recordID: 5), startAt: .end, rules: .builtin,
            subscription: channel) {}
        source.start()
        defer { source.stop() }
        var taken: [UInt64] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while taken.count < 8, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            taken += source.read(limit: 100).map(\.0.recordID)
        }
        #expect(taken == Array(13...20))
        #expect(source.counters.missed == 7)
        #expect(source.detail.contains("missed 7"))
    }

    /// The subscription fails; the source starts it again a second later (the reader's
    /// wake-ups do not shorten the pause), after the last event it delivered.
    @Test func aFailedSubscriptionResumesAfterItsLastEvent() async throws {
        let began = ContinuousClock.now
        let channel = ScriptedChannel()
        for n in 0..<10 { channel.write(ScriptedChannel.failedLogon(n, id: UInt64(100 + n)), id: UInt64(100 + n)) }
        channel.failNext(after: 4)
        let source = EventLogSource(channel: "Security", cursor: nil, startAt: .beginning, rules: .builtin, subscription: channel) {}
        source.start()
        defer { source.stop() }
        var taken: [UInt64] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while taken.count < 10, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            taken += source.read(limit: 100).map(\.0.recordID)
        }
        #expect(taken == Array(100..<110))
        #expect(ContinuousClock.now - began >= .milliseconds(900))
        #expect(channel.subscriptions == [nil, EventLogSource.bookmark(channel: "Security", recordID: 103)])
        #expect(source.counters.restarts == 1 && source.counters.lastError != nil)
        #expect(source.detail.contains("record 109") && source.detail.contains("restarts 1"))
    }

    /// The edge with a Security channel, started three times. `start_at: end` places it after
    /// the newest record at its first start, before any event comes, so what is written while
    /// it is down is read at the next start. The third start is from the state as it was on
    /// disk while the edge ran (as after `kill -9`). Every failed logon reaches the relay once.
    @Test func theEdgeFollowsAChannelAcrossRestarts() async throws {
        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "win-02")!)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eventlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stateDirectory = dir.appendingPathComponent("state")
        // Parsed as any edge's, then given the channel (outside Windows, check-config refuses
        // an eventlog source: no subscription exists there but this test's).
        var configuration = try EdgeConfiguration.parse("""
            edge_id: win-02
            key: \(key.hexEncoded)
            relay: {transport: udp, addresses: ["127.0.0.1:\(relay.udpPort)"]}
            start_at: end
            state_directory: \(stateDirectory.path)
            batch: {max_events: 8, max_delay_ms: 20}
            journal: off
            """, origin: "test")
        configuration.files = []
        configuration.followJournal = false
        configuration.eventLogChannels = ["Security"]
        let channel = ScriptedChannel()
        // Written before the edge ever ran: start_at end leaves them out.
        for n in 0..<3 { channel.write(ScriptedChannel.failedLogon(90 + n, id: UInt64(n + 1)), id: UInt64(n + 1)) }
        var logger = Logger(label: "eventlog-test")
        logger.logLevel = .warning
        func run(_ body: () async throws -> Void) async throws {
            let app = try EdgeApp(configuration: configuration, logger: logger, eventLog: channel)
            let group = ServiceGroup(services: [app.readerService, app.sender], logger: logger)
            let task = Task { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await task.value
        }
        func ports() -> [Int64] { relay.edgeEvents.compactMap(\.sourcePort).map { $0 - 40000 } }
        var id: UInt64 = 3
        func write(_ range: Range<Int>) {
            for n in range {
                id += 1
                channel.write(ScriptedChannel.failedLogon(n, id: id), id: id)
            }
        }
        // First start: nothing new is written while it runs.
        try await run {
            await relay.wait(timeout: .seconds(10)) { channel.subscriptions.count == 1 }
        }
        write(0..<6)  // while the edge is down
        let snapshot = dir.appendingPathComponent("snapshot")
        try await run {
            await relay.wait(timeout: .seconds(10)) { ports().count == 6 }
            write(6..<12)
            await relay.wait(timeout: .seconds(10)) { ports().count == 12 }
            // The state as the disk holds it while the edge runs, once the frames are spooled.
            try await Task.sleep(for: .milliseconds(300))
            try FileManager.default.copyItem(at: stateDirectory, to: snapshot)
        }
        try FileManager.default.removeItem(at: stateDirectory)
        try FileManager.default.moveItem(at: snapshot, to: stateDirectory)
        write(12..<15)
        try await run {
            await relay.wait(timeout: .seconds(10)) { ports().count >= 15 }
            try await Task.sleep(for: .milliseconds(300))
        }
        await relay.stop()
        #expect(ports() == Array(0..<15))
        let three = EventLogSource.bookmark(channel: "Security", recordID: 3)
        #expect(channel.subscriptions == [three, three, EventLogSource.bookmark(channel: "Security", recordID: 15)])
        let first = try #require(relay.edgeEvents.first)
        #expect(first.kind == .login && first.outcome == .failure && first.user == "user0" && first.sourceIP == "192.0.2.77")
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 0)
    }
}
