import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport
import Wire

@testable import Relay

/// DingTalk delivery against the fake robot, which refuses what the real one refuses.
@Suite("DingTalk delivery", .serialized)
struct DeliveryTests {
    /// The vectors of ../shared/specs/chat-and-llm-apis.md §0.
    @Test func signatureVectors() {
        #expect(DingTalk.sign(secret: "SECtestsecret", timestampMilliseconds: 1_700_000_000_000) == "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s=")
        #expect(DingTalk.signedURL(webhook: "https://oapi.dingtalk.com/robot/send?access_token=T", secret: "SECtestsecret",
                                   timestampMilliseconds: 1_700_000_000_000)
                == "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign=7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D")
        #expect(DingTalk.sign(secret: "SECtest", timestampMilliseconds: 1_599_360_473_000) == "9uMBwWNha8Pcr4QQCL9YQitwL0E0g2JIxycWz23gAkE=")
    }

    @Test func answersAreReadFromTheBody() {
        #expect(DingTalk.verdict(status: 200, body: Array(#"{"errcode":0,"errmsg":"ok"}"#.utf8)) == .delivered)
        #expect(DingTalk.verdict(status: 200, body: Array(#"{"errcode":"0","errmsg":"ok"}"#.utf8)) == .delivered)
        #expect(DingTalk.verdict(status: 200, body: Array(#"{"errcode":310000,"errmsg":"sign not match"}"#.utf8)) == .refused("310000 sign not match"))
        #expect(DingTalk.verdict(status: 200, body: Array(#"{"errcode":130101,"errmsg":"send too fast"}"#.utf8)) == .throttled("130101 send too fast"))
        #expect(DingTalk.verdict(status: 200, body: Array(#"{"errcode":-1,"errmsg":"busy"}"#.utf8)) == .retry("busy: busy"))
        #expect(DingTalk.verdict(status: 502, body: []) == .retry("HTTP 502"))
        #expect(DingTalk.verdict(status: 200, body: Array("<html>".utf8)) == .retry("answer is not JSON"))
    }

    @Test func theFakeRefusesWhatTheRealRobotRefuses() async throws {
        let fake = try await FakeDingTalk()
        defer { Task { await fake.stop() } }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let good = DingTalk.signedURL(webhook: fake.webhook, secret: fake.secret, timestampMilliseconds: now)
        let body = DingTalk.markdownBody(title: "告警 t", text: "告警 x", atMobiles: [], atUserIDs: [], messageID: "m1")
        func post(_ url: String, _ body: [UInt8], type: String = "application/json") async throws -> Int {
            var r = HTTPClientRequest(url: url)
            r.method = .POST
            r.headers.add(name: "Content-Type", value: type)
            r.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(r, timeout: .seconds(5))
            let data = try await response.body.collect(upTo: 1 << 16)
            let json = try JSONSerialization.jsonObject(with: Data(data.readableBytesView)) as? [String: Any]
            return json?["errcode"] as? Int ?? -99
        }
        #expect(try await post(good, body) == 0)
        // Double-encoded sign, seconds for milliseconds, an hour and a bit old, no keyword, too big.
        let sign = DingTalk.sign(secret: fake.secret!, timestampMilliseconds: now)
        let double = "\(fake.webhook)&timestamp=\(now)&sign=\(DingTalk.percentEncode(DingTalk.percentEncode(sign)))"
        #expect(try await post(double, body) == 310000)
        #expect(try await post(DingTalk.signedURL(webhook: fake.webhook, secret: fake.secret, timestampMilliseconds: now / 1000), body) == 310000)
        #expect(try await post(DingTalk.signedURL(webhook: fake.webhook, secret: fake.secret, timestampMilliseconds: now - 3_700_000), body) == 310000)
        #expect(try await post(good, DingTalk.markdownBody(title: "t", text: "x", atMobiles: [], atUserIDs: [], messageID: "m2")) == 310000)
        #expect(try await post(good, DingTalk.markdownBody(title: "告警", text: String(repeating: "x", count: 20_001), atMobiles: [], atUserIDs: [], messageID: "m3")) == 460101)
        #expect(try await post(good, body, type: "text/plain") == 43004)
        #expect(try await post(good.replacingOccurrences(of: fake.token, with: "nope"), body) == 300005)
        // The same msgUuid twice: accepted, shown once.
        #expect(try await post(good, body) == 0)
        #expect(fake.accepted.count == 1)
    }

    static func relay(_ fake: FakeDingTalk, minimum: Event.Severity = .high) async throws -> RunningRelay {
        try await RunningRelay.start(observeItems: false) { c in
            var channel = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(fake.webhook))
            channel.secret = fake.secret.map { .inline($0) }
            channel.keyword = "告警"
            channel.atMobiles = ["13800000000"]
            channel.minimumSeverity = minimum
            c.channels = [channel]
        }
    }

    /// Five failed passwords from `ip`: one brute-force incident.
    static func bruteForce(_ relay: RunningRelay, from ip: String, sequence: UInt64) async throws {
        let events = (0..<5).map { n -> Event in
            var e = EdgeFixture.event(n)
            e.sourceIP = ip
            return e
        }
        try await Send.udp(try EdgeFixture.messages(events: events, sequence: sequence), port: relay.udpPort)
    }

    @Test func anIncidentArrivesSignedWithKeywordAndMention() async throws {
        let fake = try await FakeDingTalk()
        let relay = try await Self.relay(fake)
        try await Self.bruteForce(relay, from: "203.0.113.77", sequence: 1)
        await relay.wait { fake.accepted.count == 1 }
        await relay.stop()
        await fake.stop()
        let message = try #require(fake.accepted.first)
        #expect(message.text.contains("告警") && message.text.contains("203.0.113.77") && message.text.contains("@13800000000"))
        #expect(message.text.contains("brute\\_force") && message.text.contains("Failed password"), "\(message.text)")
        #expect(fake.refusals.isEmpty, "\(fake.refusals)")
        let stored = try relay.app.store.recentIncidents()
        #expect(stored.first?.delivered == true)
        #expect(try relay.app.store.outbox(status: .delivered).count == 1)
    }

    @Test func aRobotDownForAWhileGetsEveryAlertOnceWhenBack() async throws {
        let fake = try await FakeDingTalk()
        fake.set(.down)
        let relay = try await Self.relay(fake)
        try await Self.bruteForce(relay, from: "203.0.113.78", sequence: 1)
        await relay.wait { fake.requests >= 1 }
        #expect(fake.accepted.isEmpty)
        fake.set(.normal)
        await relay.wait(timeout: .seconds(15)) { fake.accepted.count == 1 }
        try await Task.sleep(for: .seconds(1))
        await relay.stop()
        await fake.stop()
        #expect(fake.accepted.count == 1, "delivered exactly once")
        let entry = try #require(try relay.app.store.outbox().first)
        #expect(entry.status == .delivered && entry.attempts >= 2)
    }

    @Test func aBurstOfIncidentsStaysUnderTheRateLimitAndEveryOneIsInAMessage() async throws {
        let fake = try await FakeDingTalk()
        let relay = try await Self.relay(fake)
        for n in 0..<60 {
            try await Self.bruteForce(relay, from: "198.51.100.\(n + 1)", sequence: UInt64(n + 1))
        }
        await relay.wait(timeout: .seconds(20)) { (try? relay.app.store.outbox(status: .pending).isEmpty) == true && relay.incidents.count == 60 }
        await relay.stop()
        await fake.stop()
        #expect(relay.incidents.count == 60)
        #expect(fake.highestPerMinute <= 19, "the robot saw \(fake.highestPerMinute) in a minute")
        #expect(fake.refusals[130101] == nil, "never throttled")
        let all = fake.accepted.map(\.text).joined(separator: "\n")
        for i in relay.incidents { #expect(all.contains("#\(i.id)"), "incident \(i.id) in no message") }
    }
}

/// The real relay binary killed with SIGKILL while an alert is in flight, then restarted.
@Suite("Delivery across kill -9", .serialized)
struct DeliveryCrashTests {
    @Test func anAlertInFlightWhenTheRelayIsKilledIsDeliveredOnceAfterTheRestart() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/relay").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the relay first")
        let fake = try await FakeDingTalk()
        // The robot takes the message but the answer never comes: the relay cannot know.
        fake.set(.acceptThenHang)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let port = Int.random(in: 30000...40000)
        let config = dir.appendingPathComponent("relay.yaml").path
        try """
            listen:
              - udp: "127.0.0.1:\(port)"
            http: off
            data_directory: \(dir.path)/data
            channels:
              - type: dingtalk
                webhook: "\(fake.webhook)"
                secret: "\(fake.secret!)"
                keyword: 告警
                min_severity: high
            """.write(toFile: config, atomically: true, encoding: .utf8)
        func start() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["run", "--config", config, "--log-level", "error"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        var relay = try start()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        let deadline = ContinuousClock.now + .seconds(15)
        var n = 0
        while ContinuousClock.now < deadline, fake.accepted.isEmpty {
            try Send.logger(["--server", "127.0.0.1", "--port", String(port), "--udp", "-t", "sshd",
                             "Failed password for root from 203.0.113.66 port \(40000 + n) ssh2"])
            n += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(fake.accepted.count == 1, "the robot has the message; its answer hangs")
        kill(relay.processIdentifier, SIGKILL)
        relay.waitUntilExit()
        fake.set(.normal)
        relay = try start()
        // The outbox still holds the alert: it goes again with the same msgUuid, which the
        // robot recognises, so the group sees it once.
        await RunningRelay.waitUntil(timeout: .seconds(20)) { fake.requests >= 2 && fake.refusals.isEmpty }
        try await Task.sleep(for: .seconds(1))
        kill(relay.processIdentifier, SIGTERM)
        relay.waitUntilExit()
        await fake.stop()
        #expect(fake.accepted.count == 1, "shown once")
        #expect(fake.requests >= 2, "sent again after the restart")
        let store = try Store(directory: dir.appendingPathComponent("data"), readOnly: true)
        #expect(try store.outbox(status: .delivered).count == 1)
        #expect(try store.outbox(status: .pending).isEmpty)
    }
}
