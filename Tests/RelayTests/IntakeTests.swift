import Foundation
import NIOCore
import Synchronization
import Testing
import TestSupport
import Wire

@testable import Relay

/// The relay's intake over real loopback sockets, with real senders where users have them.
@Suite("Relay intake", .serialized)
struct IntakeTests {
    @Test func edgeFramesOverUDPIncludingFragments() async throws {
        let relay = try await RunningRelay.start()
        let small = try EdgeFixture.messages(events: [EdgeFixture.event(0)], sequence: 1)
        let events = (0..<120).map(EdgeFixture.event)
        let big = try EdgeFixture.messages(events: events, sequence: 2)
        #expect(big.count > 1, "the large frame must need several datagrams")
        for d in small + big { #expect(d.count <= Envelope.udpBudgetBytes) }
        try await Send.udp(small + big.reversed(), port: relay.udpPort)
        await relay.wait { relay.frames.count == 2 }
        await relay.stop()
        let bodies = relay.frames.map(\.body)
        #expect(bodies.contains(.events([EdgeFixture.event(0)])))
        #expect(bodies.contains(.events(events)))
        #expect(relay.frames.first?.acceptance.newEpoch == true)
    }

    @Test func edgeFramesOverTCPOctetCountedDripFed() async throws {
        let relay = try await RunningRelay.start()
        let texts = try (1...5).flatMap { seq in
            try EdgeFixture.messages(events: (0..<20).map(EdgeFixture.event), sequence: UInt64(seq), budget: Envelope.tcpBudgetBytes)
        }.map { String(decoding: $0, as: UTF8.self) }
        try await Send.tcp(Send.octetCounted(texts), port: relay.tcpPort, piece: 7)
        await relay.wait { relay.frames.count == 5 }
        await relay.stop()
        #expect(relay.frames.map(\.frame.sequence).sorted() == [1, 2, 3, 4, 5])
    }

    @Test func forgedReplayedAndStaleFramesAreRefusedAndCounted() async throws {
        let relay = try await RunningRelay.start()
        let genuine = try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1)
        let forged = try EdgeFixture.messages(events: [EdgeFixture.event(2)], sequence: 2, passkey: "not the relay's passkey at all")
        let stale = try EdgeFixture.messages(events: [EdgeFixture.event(3)], sequence: 3, sendTime: 1_000_000)
        try await Send.udp(genuine + forged + genuine + stale, port: relay.udpPort)
        await relay.wait { relay.counter("relay_rejected_total{reason=\"stale\"}") == 1 }
        await relay.stop()
        #expect(relay.frames.count == 1)
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 1)
        #expect(relay.counter("relay_duplicates_total") == 1)
        #expect(relay.counter("relay_rejected_total{reason=\"stale\"}") == 1)
    }

    @Test func plainSyslogFromLoggerOverUDPAndTCP() async throws {
        let relay = try await RunningRelay.start()
        let p = String(relay.udpPort), t = String(relay.tcpPort)
        try Send.logger(["--server", "127.0.0.1", "--port", p, "--udp", "--rfc5424", "-t", "sshd", "udp5424: Failed password for root"])
        try Send.logger(["--server", "127.0.0.1", "--port", p, "--udp", "--rfc3164", "-t", "sshd", "udp3164: Failed password for root"])
        try Send.logger(["--server", "127.0.0.1", "--port", t, "--tcp", "--octet-count", "--rfc5424", "-t", "su", "tcp-octet: FAILED SU"])
        try Send.logger(["--server", "127.0.0.1", "--port", t, "--tcp", "--rfc3164", "-t", "sudo", "tcp-lf: alice : user NOT in sudoers"])
        await relay.wait { relay.syslog.count == 4 }
        await relay.stop()
        let byText = Dictionary(relay.syslog.map { ($0.message.split(separator: ":")[0], $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byText["udp5424"]?.format == .rfc5424)
        #expect(byText["udp5424"]?.appName == "sshd")
        #expect(byText["udp3164"]?.format == .rfc3164)
        #expect(byText["udp3164"]?.appName == "sshd")
        #expect(byText["tcp-octet"]?.appName == "su")
        #expect(byText["tcp-lf"]?.appName == "sudo")
        #expect(relay.syslog.allSatisfy { $0.hostname != nil })
    }

    /// Plain syslog runs through the same rules as the edge.
    @Test func plainSyslogIsDetected() async throws {
        let relay = try await RunningRelay.start()
        let p = String(relay.udpPort), t = String(relay.tcpPort)
        try Send.logger(["--server", "127.0.0.1", "--port", p, "--udp", "--rfc3164", "-t", "sshd", "-i",
                         "Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2"])
        try Send.logger(["--server", "127.0.0.1", "--port", t, "--tcp", "--octet-count", "--rfc5424", "-t", "useradd",
                         "new user: name=mallory, UID=1005, GID=1005, home=/home/mallory, shell=/bin/bash, from=/dev/pts/1"])
        try Send.logger(["--server", "127.0.0.1", "--port", p, "--udp", "-t", "cron", "nothing to see"])
        await relay.wait { relay.syslog.count == 3 }
        await relay.stop()
        let events = relay.syslogEvents
        #expect(events.count == 2)
        let login = events.first { $0.kind == .login }
        #expect(login?.user == "admin" && login?.sourceIP == "203.0.113.9" && login?.sourcePort == 51234 && login?.method == "password")
        #expect(login?.host != nil && login?.pid != nil)
        #expect(events.first { $0.kind == .accountCreated }?.targetUser == "mallory")
    }

    @Test func garbageOnTCPClosesThatConnectionOnly() async throws {
        let relay = try await RunningRelay.start()
        var rng = SystemRandomNumberGenerator()
        // Octet counting chosen by the first digit, then garbage: refused and closed.
        let garbage = Array("1".utf8) + (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try await Send.tcp(garbage, port: relay.tcpPort)
        let genuine = try EdgeFixture.messages(events: [EdgeFixture.event(5)], sequence: 1, budget: Envelope.tcpBudgetBytes)
        try await Send.tcp(Send.octetCounted(genuine.map { String(decoding: $0, as: UTF8.self) }), port: relay.tcpPort)
        await relay.wait { relay.frames.count == 1 }
        await relay.stop()
        #expect(relay.frames.count == 1)
        #expect(relay.counter("relay_rejected_total{reason=\"syntax\"}") >= 1)
    }

    /// Long datagrams arrive whole: the read buffer gives each datagram of a vector read
    /// room for the largest message (it once gave 2 KiB, cutting longer lines short).
    @Test func longDatagramsArriveWhole() async throws {
        let relay = try await RunningRelay.start()
        let pad = String(repeating: "x", count: 9000)
        let message = "Failed password for invalid user \(pad) from 203.0.113.9 port 4242 ssh2"
        let long = "<38>Nov 29 16:10:15 host-long sshd[1]: " + message
        let huge = "<38>Nov 29 16:10:15 host-huge app[1]: " + String(repeating: "y", count: 60_000)
        try await Send.udp([Array(long.utf8), Array(huge.utf8)], port: relay.udpPort)
        await relay.wait { relay.syslog.count == 2 }
        await relay.stop()
        #expect(relay.syslog.map(\.message.utf8.count).sorted() == [message.utf8.count, 60_000])
        #expect(relay.syslogEvents.first?.sourcePort == 4242 && relay.syslogEvents.first?.user == pad)
    }

    @Test func oversizedMessagesAreSkippedAndCounted() async throws {
        var limits = RelayConfiguration.Limits()
        limits.maxMessageBytes = 2000
        let relay = try await RunningRelay.start(limits: limits)
        let big = "<13>1 - h app - - - " + String(repeating: "A", count: 5000)
        let ok = "<13>1 - h app - - - fine"
        try await Send.tcp(Send.octetCounted([big, ok]), port: relay.tcpPort)
        try await Send.udp([Array(big.utf8), Array(ok.utf8)], port: relay.udpPort)
        await relay.wait { relay.syslog.count == 2 }
        await relay.stop()
        #expect(relay.syslog.map(\.message) == ["fine", "fine"])
        #expect(relay.counter("relay_rejected_total{reason=\"oversized\"}") == 2)
    }

    @Test func idleConnectionsAreClosed() async throws {
        var limits = RelayConfiguration.Limits()
        limits.idleTimeoutSeconds = 1
        let relay = try await RunningRelay.start(limits: limits)
        let socket = try await ClientBootstrapHelper.connect(port: relay.tcpPort)
        let closed = await relay.wait(timeout: .seconds(4)) { !socket.isActive }
        await relay.stop()
        #expect(closed, "an idle connection stayed open")
    }

    @Test func ipv6Loopback() async throws {
        let relay = try await RunningRelay.start(host: "::1")
        let frame = try EdgeFixture.messages(events: [EdgeFixture.event(9)], sequence: 1)
        try await Send.udp(frame, port: relay.udpPort, host: "::1")
        await relay.wait { relay.frames.count == 1 }
        await relay.stop()
        #expect(relay.frames.count == 1)
    }
}

enum ClientBootstrapHelper {
    static func connect(port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: NIOPosix.MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    }
}

import NIOPosix

/// edge.forgery and per-edge source addresses.
@Suite("Forgery", .serialized)
struct ForgeryTests {
    @Test func aFloodOfForgedFramesIsOneIncidentAndGenuineFramesStillArrive() async throws {
        let relay = try await RunningRelay.start()
        var genuine: [[UInt8]] = []
        var forged: [[UInt8]] = []
        for n in 0..<200 {
            forged += try EdgeFixture.messages(events: [EdgeFixture.event(n)], sequence: UInt64(n + 1), passkey: "an attacker's guess at the passkey")
            if n % 20 == 0 { genuine += try EdgeFixture.messages(events: [EdgeFixture.event(n)], sequence: UInt64(n + 1)) }
        }
        var interleaved: [[UInt8]] = []
        for (i, f) in forged.enumerated() {
            interleaved.append(f)
            if i % 20 == 0 { interleaved.append(genuine[i / 20]) }
        }
        // The edge has spoken before (refusals claiming edges never heard are grouped
        // apart: ForgeryGroupingTests).
        try await Send.udp([genuine[0]], port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 }
        try await Send.udp(interleaved, port: relay.udpPort)
        await relay.wait { relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 200 && relay.frames.count == 10 }
        #expect(relay.frames.count == 10, "every genuine frame delivered")
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 200)
        let raised = relay.relayEvents.filter { $0.kind == .edgeForgery }
        #expect(raised.count == 1, "the first refusal raises at once; the rest wait for the summary")
        #expect(raised.first?.host == "web-01" && raised.first?.sourceIP == "127.0.0.1")
        // A minute later: one summary of the other 199.
        relay.app.intake.tick(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 61_000)
        await relay.wait { relay.relayEvents.filter { $0.kind == .edgeForgery }.count == 2 }
        let summary = relay.relayEvents.filter { $0.kind == .edgeForgery }.last
        #expect(summary?.raw?.contains("199 frame(s) claiming edge web-01 refused (bad_mac: 199)") == true, "\(summary?.raw ?? "")")
        await relay.stop()
        let incidents = relay.incidents.filter { $0.kind == "edge.forgery" }
        #expect(incidents.count == 1, "a flood is one incident")
        #expect(incidents.first?.count == 2 && incidents.first?.severity == .high)
    }

    @Test func anEdgeMaySendOnlyFromItsAddressesAndARefusedCopyUsesNoSequence() async throws {
        let relay = try await RunningRelay.start(alsoIPv6: true) { c in
            c.edgeSources = ["web-01": [IPRange("::1")!]]
        }
        let frame = try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1)
        try await Send.udp(frame, port: relay.udpPort, from: "127.0.0.1")
        await relay.wait { relay.relayEvents.contains { $0.kind == .edgeForgery } }
        #expect(relay.counter("relay_rejected_total{reason=\"source_not_allowed\"}") == 1)
        #expect(relay.frames.isEmpty)
        #expect(relay.relayEvents.contains { $0.kind == .edgeForgery && $0.raw?.contains("source_not_allowed") == true })
        // The same frame from the edge's own address is accepted, not taken for a replay.
        try await Send.udp(frame, port: try #require(relay.udpPort6), host: "::1")
        await relay.wait { relay.frames.count == 1 }
        #expect(relay.frames.count == 1)
        #expect(relay.counter("relay_duplicates_total") == 0)
        // Other edges are not restricted.
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(2)], sequence: 1, edge: EdgeID(rawValue: "db-01")!), port: relay.udpPort)
        await relay.wait { relay.frames.count == 2 }
        await relay.stop()
        #expect(relay.frames.count == 2)
    }
}

/// Plain syslog without events is scanned and counted, never an item; only lines the rules
/// match become items and are stored. (Tests observe the relay without changing its path.)
@Suite("Plain syslog fast path", .serialized)
struct PlainSyslogFastPathTests {
    @Test func unremarkableSyslogIsCountedAndMatchesBecomeIncidents() async throws {
        let relay = try await RunningRelay.start()
        var datagrams: [[UInt8]] = []
        for n in 0..<200 {
            datagrams.append(Array("<30>Nov 29 16:10:15 web7 systemd[1]: Started session \(n) of something.".utf8))
        }
        for n in 0..<5 {
            datagrams.append(Array("<38>Nov 29 16:10:16 web7 sshd[9\(n)]: Failed password for root from 203.0.113.50 port 400\(n) ssh2".utf8))
        }
        // No HOSTNAME: the sender's address names the host.
        datagrams.append(Array("<38>sudo: alice : user NOT in sudoers ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh".utf8))
        // An edge frame among them still takes the full path.
        datagrams += try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1)
        try await Send.udp(datagrams, port: relay.udpPort)
        await relay.wait { relay.counter("relay_messages_total{transport=\"udp\"}") == 207 && relay.incidents.count >= 2 }
        relay.app.pipeline.flush()
        await relay.stop()
        #expect(relay.counter("relay_syslog_plain_total") == 206)
        #expect(relay.counter("relay_syslog_events_total") == 6)
        #expect(relay.counter("relay_edge_events_total") == 1)
        // Items: the six lines with events and the frame; the other 200 were only counted
        // (and shown to the observer of plain syslog, as the console's events mode is).
        #expect(relay.items.count == 7)
        #expect(relay.syslog.count == 206 && relay.syslog.filter { $0.appName == "systemd" }.count == 200)
        let brute = try #require(relay.incidents.first { $0.kind == "brute_force" })
        #expect(brute.count == 5 && brute.host == "web7" && brute.sourceIP == "203.0.113.50")
        let sudo = try #require(relay.incidents.first { $0.kind == "privilege" })
        #expect(sudo.host == "127.0.0.1" && sudo.user == "alice")
        let stored = try relay.app.store.recentEvents(limit: 100)
        #expect(stored.count == 7, "five failures, the sudo refusal, the edge's event")
    }
}

/// The console's events mode prints every plain message, taking the same path as without it.
@Suite("Console events")
struct ConsoleEventsTests {
    @Test func everyPlainMessageIsPrintedOnTheProductionPath() async throws {
        let relay = try await RunningRelay.start()
        let lines = Mutex<[String]>([])
        ConsolePrinter.attach(to: relay.app.pipeline, events: true) { line in lines.withLock { $0.append(line) } }
        try await Send.udp([
            Array("<30>Nov 29 16:10:15 web7 systemd[1]: Started session 4 of user \u{1B}[31mroot.".utf8),
            Array("<38>Nov 29 16:10:16 web7 sshd[90]: Failed password for root from 203.0.113.50 port 4000 ssh2".utf8),
        ], port: relay.udpPort)
        await relay.wait { lines.withLock { $0.count } >= 2 }
        await relay.stop()
        let printed = lines.withLock { $0 }
        #expect(printed.contains { $0.hasPrefix("syslog 127.0.0.1 web7 systemd: Started session 4") && !$0.contains("\u{1B}") })
        #expect(printed.contains { $0.contains("login failure") && $0.contains("user=root") && $0.hasSuffix("[syslog via 127.0.0.1]") })
        #expect(relay.items.count == 1, "the message without events is no item: \(relay.items.count)")
    }
}
