import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Plumbing
import Synchronization
import Testing
import TestSupport
import Wire

@testable import Relay

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

/// The alert's wait for its analysis, on a clock the test moves.
@Suite("Analysis wait", .serialized)
struct AnalysisWaitTests {
    static func analyst(_ model: FakeLLM, clock: ManualClock) throws -> (Analyst, HTTPClient) {
        var settings = AnalysisSettings(url: model.url, model: "local")
        settings.apiKey = .inline("sk-local-test")
        settings.minimumSeverity = .medium
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "analysis-wait")
        logger.logLevel = .critical
        let store = try Store(directory: FileManager.default.temporaryDirectory.appendingPathComponent("analysis-\(UUID().uuidString)"))
        let analyst = try Analyst(settings: settings, store: store, client: client, counters: Counters(), logger: logger, clock: clock)
        return (analyst, client)
    }

    static func until(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    /// The answer comes first: the alert has it, and the timer of its wait is cancelled,
    /// not left asleep until the wait would have ended.
    @Test func anAnswerInTimeCancelsTheTimer() async throws {
        let model = try await FakeLLM()
        defer { Task { await model.stop() } }
        let clock = ManualClock()
        let (analyst, client) = try Self.analyst(model, clock: clock)
        let answer = await analyst.analysis(for: OutboxTests.incident(1), within: .seconds(3600), channel: "ops")
        #expect(answer == model.answer)
        try await Self.until { clock.sleepers == 0 }
        #expect(clock.sleepers == 0, "the losing timer still sleeps")
        try await client.shutdown()
    }

    /// A model that never answers: the alert goes when the wait ends on the clock (no real
    /// minute passes), and its answer, should it come, is a follow-up.
    @Test func aHangingModelHoldsTheAlertForTheWaitOnly() async throws {
        let model = try await FakeLLM()
        defer { Task { await model.stop() } }
        model.set(.hang)
        let clock = ManualClock()
        let (analyst, client) = try Self.analyst(model, clock: clock)
        let started = ContinuousClock.now
        async let answer = analyst.analysis(for: OutboxTests.incident(2), within: .seconds(60), channel: "ops")
        try await Self.until { clock.sleepers == 1 }
        clock.advance(by: .seconds(59))
        #expect(clock.sleepers == 1)
        clock.advance(by: .seconds(1))
        #expect(await answer == nil)
        #expect(ContinuousClock.now - started < .seconds(10))
        try await client.shutdown()
    }
}
