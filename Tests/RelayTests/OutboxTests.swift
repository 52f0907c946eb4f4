import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Plumbing
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

/// Pacing and backoff are values: given times, they answer. No clock, no sleeping.
@Suite("Robot pacing")
struct RobotPacingTests {
    @Test func aBurstOfFourThenOneEveryFourSecondsNeverTwentyAMinute() {
        let t0: Int64 = 1_795_939_815_000_000
        var pacing = RobotPacing(perMinute: 20, now: t0)
        var sent: [Int64] = []
        // Ask every 100 ms for ten minutes; send while a token is there (as the dispatcher does).
        var now = t0
        while now < t0 + 600_000_000 {
            while pacing.available(now: now) >= 1 {
                pacing.attempted(at: now)
                sent.append(now)
            }
            now += 100_000
        }
        #expect(Array(sent.prefix(4)) == [t0, t0, t0, t0], "the burst")
        // Then one each 60/15 = 4 s.
        #expect(sent[4] - t0 >= 3_900_000 && sent[4] - t0 <= 4_100_000)
        for (i, t) in sent.enumerated() {
            let inMinute = sent[i...].prefix { $0 - t < 60_000_000 }.count
            #expect(inMinute <= 19, "at \(t - t0) µs: \(inMinute) in a minute")
        }
        #expect(sent.count >= 150 && sent.count <= 155, "about 15 a minute: \(sent.count)")
    }

    @Test func aPausedRobotGetsNothingUntilThePauseEnds() {
        let t0: Int64 = 1_795_939_815_000_000
        var pacing = RobotPacing(perMinute: 20, now: t0)
        pacing.pause(until: t0 + 600_000_000)
        #expect(pacing.available(now: t0) == 0)
        #expect(pacing.available(now: t0 + 599_999_999) == 0)
        #expect(pacing.available(now: t0 + 600_000_000) == 4)
        // A shorter pause never shortens a longer one.
        pacing.pause(until: t0 + 700_000_000)
        pacing.pause(until: t0 + 650_000_000)
        #expect(pacing.available(now: t0 + 690_000_000) == 0)
    }

    @Test func backoffDoublesToTenMinutesWithItsJitter() {
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: 1, jitter: 1) == 2_000_000)
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: 3, jitter: 0.75) == 6_000_000)
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: 9, jitter: 1) == 512_000_000)
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: 10, jitter: 1.25) == 750_000_000)
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: 1_000_000, jitter: 9) == 750_000_000)
        #expect(RetryBackoff.delayMicroseconds(afterAttempts: -5, jitter: 0) == 750_000)
    }
}

/// Delivery on a clock the test moves, against the fake robot on the same clock: pauses and
/// retries are checked to the second, without waiting for them.
@Suite("Delivery on a set clock", .serialized)
struct DeliveryClockTests {
    /// Runs `body` with a delivery to `fake` on `clock`, and shuts its HTTP client down after.
    static func withDelivery(
        _ fake: FakeDingTalk, outbox: MemoryOutbox, clock: ManualWallClock, _ body: (Delivery, AlertChannel) async throws -> Void
    ) async throws {
        let (delivery, channel) = Self.delivery(fake, outbox: outbox, clock: clock)
        do {
            try await body(delivery, channel)
        } catch {
            await delivery.shutdown()
            throw error
        }
        await delivery.shutdown()
    }

    static func delivery(_ fake: FakeDingTalk, outbox: MemoryOutbox, clock: ManualWallClock) -> (Delivery, AlertChannel) {
        var channel = AlertChannel(name: "ops", kind: .dingtalk, webhook: fake.webhook)
        channel.secret = fake.secret
        channel.keyword = "告警"
        var logger = Logger(label: "delivery-clock")
        logger.logLevel = .critical
        let delivery = Delivery(channels: [channel], outbox: outbox, counters: Counters(), clock: clock.clock, logger: logger)
        return (delivery, channel)
    }

    /// The robot says "too fast" (another sender used its minute): the channel is paused for
    /// its block time, to the second, with the alert kept and no attempt counted; then it goes.
    @Test func aThrottledRobotIsPausedForItsBlockTimeAndTheAlertKept() async throws {
        let clock = ManualWallClock(microseconds: WallClock.system.now)
        let fake = try await FakeDingTalk(clock: clock.clock)
        defer { Task { await fake.stop() } }
        // Twenty messages from elsewhere fill the robot's minute.
        for n in 0..<20 {
            var r = HTTPClientRequest(url: DingTalk.signedURL(webhook: fake.webhook, secret: fake.secret, timestampMilliseconds: clock.now / 1000))
            r.method = .POST
            r.headers.add(name: "Content-Type", value: "application/json")
            r.body = .bytes(ByteBuffer(bytes: DingTalk.markdownBody(title: "告警", text: "告警 \(n)", atMobiles: [], atUserIDs: [], messageID: "other-\(n)")))
            _ = try await HTTPClient.shared.execute(r, timeout: .seconds(5))
        }
        #expect(fake.accepted.count == 20)
        let outbox = MemoryOutbox()
        try await Self.withDelivery(fake, outbox: outbox, clock: clock) { delivery, channel in
            try outbox.enqueue(OutboxTests.incident(1), channels: ["ops"], now: clock.now)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.refusals[130101] == 1)
            let entry = try #require(try outbox.outbox(status: .pending).first)
            #expect(entry.attempts == 0 && entry.lastError?.contains("130101") == true)
            // Paused for blockSeconds (600): nothing is tried, not even a request.
            let requests = fake.requests
            clock.advance(seconds: 599)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.requests == requests)
            clock.advance(seconds: 2)
            #expect(await delivery.deliverOne(channel) == true)
            #expect(fake.accepted.count == 21 && fake.accepted.last?.text.contains("incident 1") == true)
            #expect(try outbox.outbox(status: .delivered).map(\.attempts) == [1])
        }
    }

    /// A robot that answers 500 is tried again after 2 s (±25%), then 4 s, with the same
    /// message id; when it is back, the alert arrives once.
    @Test func aFailingRobotIsRetriedOnItsBackoff() async throws {
        let clock = ManualWallClock(microseconds: WallClock.system.now)
        let fake = try await FakeDingTalk(clock: clock.clock)
        defer { Task { await fake.stop() } }
        let outbox = MemoryOutbox()
        try await Self.withDelivery(fake, outbox: outbox, clock: clock) { delivery, channel in
            try outbox.enqueue(OutboxTests.incident(7), channels: ["ops"], now: clock.now)
            fake.set(.down)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.requests == 1)
            clock.advance(seconds: 1.4)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.requests == 1, "not before 1.5 s")
            clock.advance(seconds: 1.2)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.requests == 2, "by 2.5 s")
            fake.set(.normal)
            clock.advance(seconds: 2.9)
            #expect(await delivery.deliverOne(channel) == false)
            #expect(fake.requests == 2, "the second wait is 3 to 5 s")
            clock.advance(seconds: 2.2)
            #expect(await delivery.deliverOne(channel) == true)
            #expect(fake.accepted.count == 1)
            let delivered = try outbox.outbox(status: .delivered)
            #expect(delivered.map(\.attempts) == [3] && delivered.first?.messageID == fake.accepted.first?.messageID)
        }
    }
}
