import Foundation
import Detection
import Logging
import Plumbing
import TestSupport
import Testing

@testable import Relay
@testable import Wire

/// The pieces behind issue 10's binary tests, each at the value that used to trap or leak.
@Suite("Hardening: values from outside")
struct HardeningUnitTests {
    static func incident(_ id: Int64, title: String, user: String? = nil, evidence: [String] = []) -> Incident {
        var i = Incident(id: id, key: "k\(id)", rule: "r", kind: "account.created", severity: .high, title: title, count: 1,
                         firstSeen: 1_795_939_815_000_000, lastSeen: 1_795_939_815_000_000, lastArrival: 0, status: .open, evidence: evidence, hosts: [])
        i.user = user
        return i
    }

    // MARK: output (class 6)

    /// "\r\n" is one Swift Character: escaping by characters let it through as a new line.
    @Test func escapingWorksOnScalarsAndDefangsLinks() {
        let hostile = "a\r\nb\n### c\u{2028}d\u{85}e\u{1B}[31mf\u{202E}g http://evil.example/x HTTPS://b.example www.c.example @all"
        let e = AlertMessage.escape(hostile)
        for bad in ["\r", "\n", "\u{2028}", "\u{85}", "\u{1B}", "\u{202E}"] { #expect(!e.contains(bad), "\(bad.unicodeScalars.first!.value) left in \(e)") }
        #expect(e.contains("hxxp\\[://\\]evil\\[.\\]example/x"), "\(e)")
        #expect(e.contains("HxxPS\\[://\\]b\\[.\\]example") || e.contains("hxxps") || e.contains("HxxPS"), "\(e)")
        #expect(e.contains("www\\[.\\]c.example"), "\(e)")
        #expect(!e.contains("@all"))
        let plain = AlertMessage.plainText(hostile)
        #expect(!plain.contains("\r") && !plain.contains("\n") && !plain.contains("http://"))
    }

    @Test func terminalTextShowsControlsInsteadOfObeyingThem() {
        #expect(TerminalText.safe("root\u{1B}[2J\r\nfake line\u{9B}\u{202E}") == "root\\x1B[2J\\x0D\\x0Afake line\\x9B\\u{202E}")
        #expect(TerminalText.safe("用户 bob") == "用户 bob")
    }

    // MARK: sizes (class 3)

    /// Fields are cut by UTF-8 bytes: one grapheme of 10,000 combining marks is one
    /// Character but 20,001 bytes.
    @Test func clipCountsBytesNotCharacters() {
        let grapheme = "e" + String(repeating: "\u{301}", count: 10_000)
        #expect(grapheme.count == 1)
        let c = AlertMessage.clip(grapheme, 256)
        #expect(c.utf8.count <= 256)
        #expect(AlertMessage.clip("short", 256) == "short")
    }

    /// Whatever its fields, an alert fits the robot's limit and names its incident; a digest
    /// always names at least one (an empty one made `batch[0]` trap).
    @Test(arguments: [300, 1_000, 3_796, 18_000])
    func messagesAlwaysFitAndNameAnIncident(maxBytes: Int) {
        let huge = "e" + String(repeating: "\u{301}", count: 10_000)
        let long = String(repeating: "@", count: 30_000)
        let i = Self.incident(1, title: "account \(huge) created", user: long, evidence: [long, huge])
        for language in [AlertMessage.Language.zh, .en] {
            let one = AlertMessage.incident(i, language: language, keyword: "告警", maxBytes: maxBytes, analysis: long)
            #expect(one.text.utf8.count <= maxBytes && one.incidents == [1], "\(one.text.utf8.count) bytes")
            let digest = AlertMessage.digest([i, Self.incident(2, title: huge)], language: language, keyword: "告警", maxBytes: maxBytes)
            #expect(!digest.incidents.isEmpty && digest.text.utf8.count <= maxBytes, "\(digest.text.utf8.count) bytes, \(digest.incidents)")
            let follow = AlertMessage.followUp(i, analysis: long + huge, language: language, keyword: "告警", maxBytes: maxBytes)
            #expect(follow.text.utf8.count <= maxBytes)
            let template = AlertTemplate(title: "{title}", text: "{title} {user}\n{evidence}")
            let templated = AlertMessage.incident(i, language: language, keyword: "告警", maxBytes: maxBytes, template: template)
            #expect(templated.text.utf8.count <= maxBytes)
        }
    }

    // MARK: arithmetic on values from an edge (class 4)

    @Test func eventTimesOutsideTheRangeAreRefusedAtDecode() throws {
        for bad in [Int64.min, -1, Int64.max, 7_258_118_400_000_001] {
            var e = EdgeFixture.event(1)
            e.timeMicroseconds = bad
            let payload = EventBatchCodec.encode([e])
            #expect(throws: WireError.self) { try EventBatchCodec.decode(payload[...], limits: .default) }
        }
        var fine = EdgeFixture.event(1)
        fine.timeMicroseconds = 0
        #expect(try EventBatchCodec.decode(EventBatchCodec.encode([fine])[...], limits: .default).first?.timeMicroseconds == 0)
    }

    @Test func plausibleTimeNeverOverflows() {
        var e = EdgeFixture.event(1)
        for t in [Int64.min, Int64.max, -1] {
            e.timeMicroseconds = t
            #expect(Correlator.plausibleTime(e, arrival: 1_795_939_815_000_000) == 1_795_939_815_000_000)
            #expect(Correlator.plausibleTime(e, arrival: Int64.min) == Int64.min || t == Int64.min)
        }
    }

    /// A gap up to 2^64-1 frames (a frame numbered 2^64-1 with one edge's key) is counted
    /// without trapping, and a state file with reversed bounds is cleaned when loaded.
    @Test func hugeSequenceGapsAreCountedSaturating() {
        let state = EdgeSequenceState()
        let (count, ranges) = EdgeRegistry.missing(in: .init(epoch: 1, first: 2, last: UInt64.max - 1, seenMilliseconds: 0), state: state)
        #expect(count == UInt64.max - 2)
        #expect(ranges.last?.upperBound == UInt64.max - 1)
        let (all, _) = EdgeRegistry.missing(in: .init(epoch: 1, first: 0, last: UInt64.max, seenMilliseconds: 0), state: state)
        #expect(all == UInt64.max)
        let (top, topRanges) = EdgeRegistry.missing(in: .init(epoch: 1, first: UInt64.max - 3, last: UInt64.max, seenMilliseconds: 0), state: state)
        #expect(top == 4 && topRanges == [(UInt64.max - 3)...UInt64.max])
        let (none, _) = EdgeRegistry.missing(in: .init(epoch: 1, first: 9, last: 3, seenMilliseconds: 0), state: state)
        #expect(none == 0)
    }

    @Test func tokenCountsFromAModelAreBounded() {
        #expect(Analyst.plausibleTokens(Int.max) == 1_000_000)
        #expect(Analyst.plausibleTokens(-5) == 0)
        #expect(Analyst.plausibleTokens(1234) == 1234)
    }

    // MARK: time

    /// The relay made its syslog parser once, with "now" fixed at start: a day later, BSD
    /// timestamps (no year) of today resolved to the previous year.
    @Test func bsdYearsResolveAgainstTheTimeOfEachMessage() async throws {
        let start: Int64 = 1_798_675_200_000_000  // 2026-12-31T00:00:00Z
        let clock = ManualWallClock(microseconds: start)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("intake-year-\(UUID().uuidString)")
        let configuration = RelayConfiguration(listeners: [], dataDirectory: directory, passkey: .inline(RunningRelay.passkey))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try Store(directory: directory)
        let intake = try Intake(configuration: configuration, keys: KeyRing(passkey: try Passkey(RunningRelay.passkey)), store: store,
                                logger: Logger(label: "test"), clock: clock.clock)
        // Two days later, in the new year: "Jan  2" is 2027, not 2026.
        clock.advance(microseconds: 2 * 86_400_000_000)
        let line = "<38>Jan  2 00:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"
        intake.handle(Array(line.utf8), sender: "127.0.0.1", transport: .udp)
        intake.finish()
        var times: [Int64] = []
        while let batch = await intake.queue.next() {
            for item in batch { if case .detected(let events, _) = item { times += events.compactMap(\.timeMicroseconds) } }
        }
        #expect(times == [start + 2 * 86_400_000_000], "resolved to \(times.map { SyslogTimestamp.iso8601UTC(microseconds: $0, fractionDigits: 0) })")
    }

    /// An edge frame the full queue could not take: the connection is told to close (over
    /// TCP the edge then resends), the frame's acceptance is taken back, and only a frame
    /// still missing once late ones had time is an `edge.loss`. The relay used to raise the
    /// loss at once and keep the connection: a resend the edge never made was a real loss,
    /// and one it made was a false alarm.
    @Test func aDroppedFrameIsAskedForAgainAndOnlyALossWhenNeverResent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("intake-drop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = RelayConfiguration(listeners: [], dataDirectory: directory, passkey: .inline(RunningRelay.passkey))
        configuration.limits.queueDepth = 2
        let intake = try Intake(configuration: configuration, keys: KeyRing(passkey: try Passkey(RunningRelay.passkey)), store: try Store(directory: directory),
                                logger: Logger(label: "test"))
        func frame(_ sequence: UInt64) throws -> [UInt8] {
            try #require(EdgeFixture.messages(events: [EdgeFixture.event(Int(sequence))], sequence: sequence).first)
        }
        #expect(intake.handle(try frame(1), sender: "127.0.0.1", transport: .tcp) == .taken)
        #expect(intake.handle(try frame(2), sender: "127.0.0.1", transport: .tcp) == .taken)
        #expect(intake.handle(try frame(3), sender: "127.0.0.1", transport: .tcp) == .frameDropped)
        #expect(intake.handle(try frame(4), sender: "127.0.0.1", transport: .tcp) == .frameDropped)
        let first = await intake.queue.next()
        #expect(first?.count == 2)
        // The edge reconnects and resends 3 (taken now: its acceptance was taken back) but not 4.
        let done = Task { await intake.queue.next() }  // asking again: the first batch is done
        var resent = false
        for _ in 0..<5000 where !resent {
            resent = intake.handle(try frame(3), sender: "127.0.0.1", transport: .tcp) == .taken
            if !resent { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(resent)
        #expect(await done.value?.count == 1)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        intake.tick(nowMilliseconds: now)
        intake.tick(nowMilliseconds: now + 60_000)
        var raised = intake.takeHeldRelayEvents()
        intake.finish()
        while let batch = await intake.queue.next() {
            for item in batch { if case .relay(let event) = item { raised.append(event) } }
        }
        let loss = raised.filter { $0.kind == .edgeLoss && $0.host == "web-01" }.map { $0.raw ?? "" }
        #expect(raised.contains { $0.program == "relay-intake" }, "the drops themselves are raised too")
        #expect(loss.count == 1 && loss[0].contains("lost 1 frame(s)") && loss[0].contains(": 4"), "\(loss)")
    }

    // MARK: plain syslog only from forwarders (class 5)

    /// `plain_syslog: from: [...]`: plain syslog from anyone else is refused and counted;
    /// edge frames are taken from anywhere (they prove where they come from).
    @Test func plainSyslogOnlyFromListedForwarders() async throws {
        let configuration = try RelayConfiguration.parse("plain_syslog:\n  from: [\"::1\"]\n", origin: "test")
        #expect(configuration.plainSyslogFrom?.map(\.description) == ["::1"])
        #expect(try RelayConfiguration.parse("plain_syslog: off\n", origin: "test").plainSyslogFrom?.isEmpty == true)
        let relay = try await RunningRelay.start(alsoIPv6: true) { $0.plainSyslogFrom = configuration.plainSyslogFrom }
        let line = { (ip: String) in Array("<38>Dec  6 10:00:00 h sshd[1]: Failed password for root from \(ip) port 22 ssh2".utf8) }
        try await Send.udp((0..<5).map { _ in line("198.51.100.1") }, port: relay.udpPort, from: "127.0.0.1")
        try await Send.udp((0..<5).map { _ in line("198.51.100.2") }, port: try #require(relay.udpPort6), host: "::1")
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1), port: relay.udpPort, from: "127.0.0.1")
        await relay.wait { relay.incidents.count == 1 && relay.counter("relay_edge_events_total") == 1 }
        try await Task.sleep(for: .milliseconds(300))
        await relay.stop()
        #expect(relay.incidents.map(\.sourceIP) == ["198.51.100.2"])
        #expect(relay.counter("relay_rejected_total{reason=\"plain_syslog_refused\"}") == 5)
        #expect(relay.counter("relay_edge_events_total") == 1, "the edge's frame from an unlisted sender is taken")
    }
}

import Synchronization

/// Issue 10, class 4: one edge's key speaks for that edge's host and no other.
@Suite("Edge events tied to their host")
struct HostTieTests {
    func event(_ host: String?) -> Event { Event(kind: .login, outcome: .failure, host: host, user: "root", raw: "line of \(host ?? "-")") }

    @Test func anEdgeSpeaksForItsFirstHostAndItsId() {
        var registry = EdgeRegistry()
        let (first, r1) = registry.tieHosts([event("web01"), event(nil)], edge: "web-01", allowed: nil)
        #expect(first.map(\.host) == ["web01", "web01"] && r1 == 0)
        let (second, r2) = registry.tieHosts([event("dc01"), event("WEB01"), event("web-01")], edge: "web-01", allowed: nil)
        #expect(second.map(\.host) == ["web01", "WEB01", "web-01"], "the domain controller's name is not web-01's to use")
        #expect(r2 == 1 && registry.records["web-01"]?.hostsReplaced == 1)
        #expect(second[0].raw == "line of dc01", "the raw line still shows the claim")
    }

    @Test func configuredHostsAndAnyHost() {
        var registry = EdgeRegistry()
        let (listed, replaced) = registry.tieHosts([event("a"), event("b"), event("c")], edge: "e1", allowed: ["a", "b"])
        #expect(listed.map(\.host) == ["a", "b", "a"] && replaced == 1)
        let (any, none) = registry.tieHosts([event("x"), event("y")], edge: "logs", allowed: ["*"])
        #expect(any.map(\.host) == ["x", "y"] && none == 0)
    }
}

/// Issue 10, class 7: secrets and state on disk.
@Suite("Secret files and directories")
struct SecretFileTests {
    let dir: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    func mode(_ path: String) -> mode_t {
        var st = stat()
        stat(path, &st)
        return st.st_mode & 0o777
    }

    @Test func secretsAreCreatedExclusivelyAndPrivately() throws {
        try SecretFile.create(dir + "/passkey", contents: Array("abc".utf8))
        #expect(mode(dir + "/passkey") == 0o600)
        #expect(throws: (any Error).self) { try SecretFile.create(dir + "/passkey", contents: Array("other".utf8)) }
        // A link planted where the secret will go is not written through.
        try FileManager.default.createSymbolicLink(atPath: dir + "/planted", withDestinationPath: dir + "/elsewhere")
        #expect(throws: (any Error).self) { try SecretFile.create(dir + "/planted", contents: Array("k".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere"))
    }

    @Test func exposedSecretsAreReportedAndDirectoriesMadePrivate() throws {
        let path = dir + "/key"
        try "0123456789abcdef0123456789abcdef".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
        #expect(SecretFile.exposure(path)?.contains("mode 644") == true)
        _ = try SecretSource.file(path).read()
        #expect(SecretFile.warnings.contains { $0.contains(path) })
        chmod(path, 0o600)
        #expect(SecretFile.exposure(path) == nil)
        try SecretFile.privateDirectory(dir + "/new/data")
        #expect(mode(dir + "/new/data") == 0o700)
        chmod(dir + "/new/data", 0o755)
        #expect(try SecretFile.privateDirectory(dir + "/new/data"))
        #expect(mode(dir + "/new/data") == 0o700)
    }

    /// Yams quotes the offending line in its errors; a configuration's line may be its
    /// passkey. Reported by line and column only.
    @Test func yamlErrorsNeverQuoteTheLine() {
        let yaml = "listen:\n  - udp: \"127.0.0.1:5514\"\npasskey: \"s3cr3t-passkey-value-of-32-bytes\n"
        do {
            _ = try RelayConfiguration.parse(yaml, origin: "relay.yaml")
            Issue.record("a broken file parsed")
        } catch {
            let text = "\(error)"
            #expect(!text.contains("s3cr3t"), "\(text)")
            #expect(text.contains("line"), "\(text)")
        }
        do {
            _ = try RuleLoader.parse("- id: x\n  pattern: \"key=hunter2-secret\n", origin: "rules.yaml")
            Issue.record("a broken rule file parsed")
        } catch {
            #expect(!"\(error)".contains("hunter2"), "\(error)")
        }
    }
}

@Suite("Plain syslog per sender")
struct SenderRateTests {
    @Test func aSenderOverItsRateIsCutAndOthersAreNot() {
        var limiter = SenderRateLimiter(perSecond: 100, maxSenders: 4)
        let t0 = ContinuousClock.now
        let first = (0..<300).filter { _ in limiter.take("10.0.0.1", now: t0) }.count
        #expect(first == 100, "a second's worth at once")
        let other = limiter.take("10.0.0.2", now: t0)
        #expect(other)
        // Half a second later, half a second's worth more.
        let later = (0..<300).filter { _ in limiter.take("10.0.0.1", now: t0 + .milliseconds(500)) }.count
        #expect(later == 50)
        // Spoofed addresses cost memory only up to the bound.
        for n in 0..<1000 { _ = limiter.take("192.0.2.\(n)", now: t0 + .seconds(1)) }
        let afterFlood = limiter.take("10.0.0.9", now: t0 + .seconds(1))
        #expect(afterFlood)
    }

    /// "message repeated 5 times" of failed passwords is a brute force on its own: the count
    /// is what thresholds add.
    @Test func aCountFeedsThresholds() {
        var c = Correlator()
        var e = Event(kind: .login, outcome: .failure, timeMicroseconds: 1_795_939_815_000_000, host: "h", user: "root",
                      sourceIP: "198.51.100.9", method: "password", severity: .medium, raw: "message repeated 5 times: [...]")
        e.count = 5
        let changes = c.process(e, edge: nil, arrival: 1_795_939_815_000_000)
        let opened = changes.compactMap { if case .opened(let i) = $0 { i } else { nil } }
        #expect(opened.map(\.kind) == ["brute_force"] && opened.first?.count == 5, "\(changes)")
    }
}

/// Issue 10, class 4: the relay's state machines and parsers on extreme values, at random
/// (a fixed seed, bounded counts): nothing traps, nothing overflows.
@Suite("Extreme values at random")
struct ExtremeValueTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 29) ^ (state << 35)
        }
    }

    static let extremes: [Int64] = [Int64.min, Int64.min + 1, -1, 0, 1, Int64.max - 1, Int64.max]

    @Test func theCorrelatorTakesAnyEvent() {
        var rng = Generator(state: 42)
        var c = Correlator()
        let base: Int64 = 1_795_939_815_000_000
        let kinds = Event.Kind.vocabulary
        let texts = ["", "|", "\\\\", "a|b\\\\|c", String(repeating: "x", count: 5000), "e" + String(repeating: "\u{301}", count: 500), "root"]
        for n in 0..<20_000 {
            var e = Event(kind: kinds[Int(rng.next() % UInt64(kinds.count))])
            e.outcome = rng.next() % 2 == 0 ? .failure : .success
            e.timeMicroseconds = rng.next() % 3 == 0 ? Self.extremes[Int(rng.next() % 7)] : base + Int64(rng.next() % 1_000_000_000)
            e.host = texts[Int(rng.next() % UInt64(texts.count))]
            e.user = texts[Int(rng.next() % UInt64(texts.count))]
            e.targetUser = texts[Int(rng.next() % UInt64(texts.count))]
            e.group = rng.next() % 4 == 0 ? "sudo" : texts[Int(rng.next() % UInt64(texts.count))]
            e.sourceIP = "198.51.100.\(rng.next() % 4)"
            e.method = rng.next() % 2 == 0 ? "password" : nil
            e.severity = Event.Severity.allCases[Int(rng.next() % 5)]
            e.count = rng.next() % 5 == 0 ? [2, 999, Event.maxCount][Int(rng.next() % 3)] : nil
            e.raw = texts[Int(rng.next() % UInt64(texts.count))]
            _ = c.process(e, edge: rng.next() % 2 == 0 ? nil : "web-01", arrival: base + Int64(n) * 1000)
        }
        _ = c.tick(now: base + 86_400_000_000)
        #expect(c.open.values.allSatisfy { $0.count >= 1 })
    }

    @Test func theRegistryTakesAnySequenceAndEpoch() throws {
        var rng = Generator(state: 7)
        var registry = EdgeRegistry()
        var state = EdgeSequenceState()
        let sequences: [UInt64] = [0, 1, 2, 1023, 1024, UInt64.max / 2, UInt64.max - 1, UInt64.max]
        for n in 0..<3000 {
            let epoch = UInt32(truncatingIfNeeded: rng.next() % 4 == 0 ? rng.next() : UInt64([0, 1, 2, UInt32.max][Int(rng.next() % 4)]))
            let sequence = rng.next() % 2 == 0 ? sequences[Int(rng.next() % 8)] : rng.next()
            guard state.check(epoch: epoch, sequence: sequence) == .fresh else { continue }
            let acceptance = state.accept(epoch: epoch, sequence: sequence)
            let frame = Frame(kind: .events, flags: [], dictionaryID: 0, edgeID: EdgeID(rawValue: "x")!, epoch: epoch, sequence: sequence,
                              sendTimeMilliseconds: 0, payload: [])
            _ = registry.delivered(.init(frame: frame, body: .events([]), acceptance: acceptance), nowMilliseconds: Int64(n) * 1000)
            if n % 100 == 0 { _ = registry.tick(nowMilliseconds: Int64(n) * 1000 + 60_000, policy: .init(), windows: ["x": state]) }
        }
        // Saved and loaded again, as after a restart.
        let data = try JSONEncoder().encode(registry)
        var loaded = try JSONDecoder().decode(EdgeRegistry.self, from: data)
        loaded.validate()
        _ = loaded.tick(nowMilliseconds: 10_000_000, policy: .init(), windows: ["x": state])
        #expect(loaded.records["x"].map { $0.framesLost >= 0 } ?? true)
    }

    /// Found by the `registry` fuzz target: a state file whose times were damaged (or edited)
    /// to the extremes made the first tick trap on `now - heard`, at every restart.
    @Test func aDamagedStateFileWithExtremeTimesLoads() throws {
        let json = #"""
            {"records": {"e": {"epoch": 4294967295, "lastFrameMilliseconds": -9223372036854775808, "lastHeartbeatMilliseconds": 9223372036854775807,
             "frames": -1, "restarts": 9223372036854775807, "framesLost": -3, "silent": false, "hostsReplaced": 0,
             "suspectedGaps": [{"epoch": 1, "first": 0, "last": 18446744073709551615, "seenMilliseconds": -9223372036854775808}]}}}
            """#
        var registry = try JSONDecoder().decode(EdgeRegistry.self, from: Data(json.utf8))
        registry.validate()
        let record = try #require(registry.records["e"])
        #expect(record.lastFrameMilliseconds == 0 && record.frames == 0 && record.framesLost == 0)
        #expect(record.lastHeartbeatMilliseconds == Event.timeRange.upperBound / 1000)
        // Unvalidated too (the clock is the relay's, the times the file's): ages saturate.
        var raw = try JSONDecoder().decode(EdgeRegistry.self, from: Data(json.utf8))
        for now in [Int64.min, 0, 1_795_939_815_000, Int64.max] {
            _ = registry.tick(nowMilliseconds: now, policy: .init())
            _ = raw.tick(nowMilliseconds: now, policy: .init())
        }
        #expect(EdgeRegistry.age(.min, .max) == .max && EdgeRegistry.age(.max, .min) == .min)
    }

    /// The analysis budget as a value told the time: no hour of waiting, any token figure.
    @Test func theAnalysisBudgetCountsAnHourOfCallsAndTokens() {
        let start: Int64 = 1_795_939_815_000_000
        var budget = AnalysisBudget(maxCalls: 3, maxTokens: 2_500_000)
        let first = budget.admit(now: start)
        #expect(first)
        budget.spend(Int.max, now: start)  // a model claiming more than any answer uses
        #expect(budget.tokensThisHour == 1_000_000)
        let second = budget.admit(now: start + 1)
        #expect(second)
        budget.spend(.min, now: start + 1)
        let third = budget.admit(now: start + 2)
        #expect(third)
        budget.spend(1_600_000, now: start + 2)
        #expect(budget.tokensThisHour == 2_000_000)
        let fourth = budget.admit(now: start + 3)
        #expect(!fourth, "three calls an hour")
        // An hour after the first call it is forgotten, and its tokens with it.
        let anHourLater = budget.admit(now: start + 3_600_000_000)
        #expect(anHourLater)
        #expect(budget.callsThisHour == 3 && budget.tokensThisHour == 1_000_000)
        budget.spend(1_000_000, now: start + 3_600_000_000)
        // Over the token budget: no call, whatever the call count says.
        var tight = AnalysisBudget(maxCalls: 100, maxTokens: 10)
        let tightFirst = tight.admit(now: start)
        #expect(tightFirst)
        tight.spend(10, now: start)
        let tightSecond = tight.admit(now: start + 1)
        #expect(!tightSecond)
        // A clock stepped far back or forward forgets rather than traps.
        let back = tight.admit(now: .min), forward = tight.admit(now: .max)
        #expect(back && forward)
    }

    @Test func modelAnswersWithAnyUsage() {
        for usage in ["9223372036854775807", "-9223372036854775808", "1e300", "-5", "\"many\"", "null", "18446744073709551616"] {
            let body = Array(#"{"choices": [{"message": {"content": "ok"}}], "usage": {"total_tokens": \#(usage)}}"#.utf8)
            let answer = Analyst.answer(body, kind: .openai)
            #expect(answer?.text == "ok")
            #expect(Analyst.plausibleTokens(answer?.tokens ?? 0) <= 1_000_000)
        }
    }
}

/// Issue 10, class 5: refusals claiming invented edge ids are one group, and forgery events
/// are limited over all groups, so forged packets cannot flood the chat with incidents.
@Suite("Forgeries grouped")
struct ForgeryGroupingTests {
    @Test func inventedEdgesAreOneGroupAndEventsAreLimited() {
        var tracker = ForgeryTracker()
        var events: [Event] = []
        for n in 0..<1000 {
            if let e = tracker.record(claimedEdge: "made-up-\(n)", known: false, reason: "forged", sender: "10.0.0.\(n % 200)", nowMilliseconds: 1000) {
                events.append(e)
            }
        }
        #expect(events.count == 1 && events.first?.host == ForgeryTracker.unknownEdges)
        // Known edges have their own events, up to the budget for the period.
        for n in 0..<40 {
            if let e = tracker.record(claimedEdge: "web-\(n)", known: true, reason: "replayed", sender: "10.0.0.1", nowMilliseconds: 2000) {
                events.append(e)
            }
        }
        #expect(events.count == tracker.maxEventsPerPeriod, "\(events.count) events")
        // The rest is summed up in the next periods, within the budget each, the groups that
        // waited longest first; nothing is forgotten while it is unreported.
        var later: [Event] = []
        for period in 1...3 {
            let batch = tracker.tick(nowMilliseconds: 2000 + Int64(period) * 61_000)
            #expect(batch.count <= tracker.maxEventsPerPeriod)
            later += batch
        }
        #expect(later.contains { $0.host == ForgeryTracker.unknownEdges && ($0.raw ?? "").contains("999 frame(s)") })
        #expect(Set(later.map(\.host)).count == 25 + 1, "every group over the budget reported: \(Set(later.map(\.host)).count)")
    }
}

/// Review findings of session 4, each at the value that showed it.
@Suite("Queue headroom, relay kinds, IPv6 sources")
struct ReviewFindingTests {
    /// Plain syslog may fill three quarters of the queue; the rest is kept for edge frames
    /// and the relay's own events (spoofed senders get past any per-sender limit).
    @Test func plainSyslogCannotTakeTheLastQuarterOfTheQueue() {
        let queue = IntakeQueue(maxItems: 8, maxBytes: 1 << 20)
        let plain = IntakeItem.detected([Event(kind: .login)], sender: "10.0.0.1")
        let accepted = (0..<10).filter { _ in queue.push(plain, bytes: 100) == nil }.count
        #expect(accepted == 6)
        let relay = IntakeItem.relay(Event(kind: .edgeLoss, host: "relay"))
        #expect(queue.push(relay, bytes: 100) == nil && queue.push(relay, bytes: 100) == nil)
        #expect(queue.push(relay, bytes: 100) == .items)
    }

    /// The batch the pipeline is working on still holds its memory: it counts against the
    /// bounds until the pipeline asks for the next one. The queue used to start from zero
    /// when a batch was taken, so memory reached twice `queue_bytes` under a flood.
    @Test func theBatchBeingProcessedCountsAgainstTheBound() async {
        let queue = IntakeQueue(maxItems: 1000, maxBytes: 1000)
        let frame = IntakeItem.relay(Event(kind: .edgeLoss, host: "relay"))
        #expect((0..<20).filter { _ in queue.push(frame, bytes: 100) == nil }.count == 10)
        let batch = await queue.next()
        #expect(batch?.count == 10)
        // Taken, not yet done: still no room.
        #expect(queue.push(frame, bytes: 100) == .bytes)
        // Asking for the next batch says this one is done.
        let waiting = Task { await queue.next() }
        var pushed = false
        for _ in 0..<10_000 where !pushed {
            if queue.push(frame, bytes: 100) == nil { pushed = true } else { try? await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(pushed)
        #expect(await waiting.value?.count == 1)
    }

    /// An edge cannot send the relay's own kinds: edge.silent naming another edge would open
    /// that incident first, and the relay's genuine one would only raise its count.
    @Test func edgesCannotSendTheRelaysKinds() {
        var registry = EdgeRegistry()
        let events = [Event(kind: .edgeSilent, host: "db-01"), Event(kind: .login, host: "web-01"), Event(kind: .edgeLoss, host: "web-01")]
        let (kept, refused) = registry.tieHosts(events, edge: "web-01", allowed: ["*"])
        #expect(kept.map(\.kind) == [.login] && refused == 2)
    }

    /// Connections from anywhere could take every place under the global cap, and the known
    /// edges were locked out with everyone else. A quarter is now kept for listed sources.
    @Test func knownSourcesKeepAQuarterOfTheConnections() {
        let table = ConnectionTable(maxTotal: 8, maxPerSource: 100, known: [IPRange("10.1.0.0/16")!, IPRange("2001:db8:5::7")!])
        #expect(table.reserved == 2)
        let strangers = (0..<20).filter { table.admit("192.0.2.\($0)") == nil }.count
        #expect(strangers == 6)
        #expect(table.admit("10.1.2.3") == nil && table.admit("2001:db8:5::7") == nil)
        #expect(table.admit("10.1.2.4") == "total", "the reserve is a quarter, not more")
        table.release("192.0.2.0")
        #expect(table.admit("::ffff:10.1.9.9") == nil, "an IPv4 edge seen through a dual-stack socket is known")
        // Nothing listed: nothing reserved.
        let open = ConnectionTable(maxTotal: 8, maxPerSource: 100)
        #expect((0..<20).filter { open.admit("192.0.2.\($0)") == nil }.count == 8)
    }

    @Test func ipv6SourcesAreCountedPerSlash64() {
        #expect(ConnectionTable.sourceKey("2001:db8:1:2::5") == ConnectionTable.sourceKey("2001:db8:1:2:ffff::9"))
        #expect(ConnectionTable.sourceKey("2001:db8:1:3::5") != ConnectionTable.sourceKey("2001:db8:1:2::5"))
        #expect(ConnectionTable.sourceKey("10.0.0.1") == "10.0.0.1")
        let table = ConnectionTable(maxTotal: 100, maxPerSource: 2)
        #expect(table.admit("2001:db8::1") == nil && table.admit("2001:db8::2") == nil)
        #expect(table.admit("2001:db8::3") == "per_source")
        table.release("2001:db8::1")
        #expect(table.admit("2001:db8::4") == nil)
    }
}

/// Issue 10, class 3: open incidents are bounded; the least severe go first.
@Suite("Open incidents bounded")
struct OpenIncidentBoundTests {
    @Test func theLeastSevereAreClosedEarlyAndCounted() {
        var c = Correlator()
        c.maxOpen = 100
        let base: Int64 = 1_795_939_815_000_000
        // One critical incident (audit log cleared), then a flood of low ones with new keys.
        _ = c.process(Event(kind: .auditCleared, timeMicroseconds: base, host: "dc-01", user: "x", severity: .critical), edge: "dc-01", arrival: base)
        var closed = 0
        for n in 0..<1000 {
            let e = Event(kind: .accountChanged, outcome: .success, timeMicroseconds: base, host: "h", targetUser: "u\(n)", severity: .low)
            closed += c.process(e, edge: nil, arrival: base + Int64(n)).filter { if case .closed = $0 { true } else { false } }.count
        }
        #expect(c.open.count <= 100)
        #expect(c.statistics.evicted == closed && closed > 0)
        #expect(c.open.values.contains { $0.kind == "audit.cleared" }, "the critical incident stays open")
    }
}
