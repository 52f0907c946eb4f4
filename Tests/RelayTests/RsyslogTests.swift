import Foundation
import Testing
import TestSupport
import Wire

@testable import Relay

/// A real rsyslogd between the senders and the relay, as on hosts without an edge and on
/// networks where syslog already flows through a central rsyslog.
@Suite("rsyslog forwarding", .serialized, .enabled(if: Rsyslog.available, "rsyslogd missing: .ci/run installs rsyslog"))
struct RsyslogTests {
    /// Sends `lines` to rsyslog with util-linux logger until the relay has seen `until`
    /// (rsyslog takes a moment to open its input).
    func sendThroughRsyslog(_ rsyslog: Rsyslog, relay: RunningRelay, tag: String, _ message: String, until: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        var n = 0
        while ContinuousClock.now < deadline, !until() {
            // Each try told apart by a number: in place of "{n}", or at the end.
            let text = message.contains("{n}") ? message.replacingOccurrences(of: "{n}", with: String(n)) : "\(message) \(n)"
            try Send.logger(["--server", "127.0.0.1", "--port", String(rsyslog.inputPort), "--udp", "--rfc5424", "-t", tag, text])
            n += 1
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test func plainSyslogForwardedOverUDPInTheTraditionalFormat() async throws {
        let relay = try await RunningRelay.start()
        let rsyslog = try Rsyslog(forwardTo: relay.udpPort, #"protocol="udp" template="RSYSLOG_TraditionalForwardFormat""#)
        defer { rsyslog.stop() }
        try await sendThroughRsyslog(rsyslog, relay: relay, tag: "sshd", "Failed password for root from 203.0.113.9 port 2{n} ssh2") {
            relay.syslogEvents.contains { $0.kind == .login }
        }
        await relay.stop()
        let event = try #require(relay.syslogEvents.first { $0.kind == .login }, "rsyslogd said: \(rsyslog.output)")
        #expect(event.outcome == .failure && event.user == "root" && event.sourceIP == "203.0.113.9")
        // The host is the original sender's name, kept by rsyslog (not the forwarder's address).
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let hostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(event.host == hostname.split(separator: ".").first.map(String.init))
    }

    @Test func plainSyslogForwardedOverTCPWithOctetCounting() async throws {
        let relay = try await RunningRelay.start()
        let rsyslog = try Rsyslog(
            forwardTo: relay.tcpPort, #"protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format""#)
        defer { rsyslog.stop() }
        try await sendThroughRsyslog(rsyslog, relay: relay, tag: "sudo", "alice : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh") {
            relay.syslogEvents.contains { $0.kind == .privilege }
        }
        await relay.stop()
        let event = try #require(relay.syslogEvents.first { $0.kind == .privilege }, "rsyslogd said: \(rsyslog.output)")
        #expect(event.outcome == .failure && event.user == "alice")
        #expect(relay.counter("relay_rejected_total{reason=\"syntax\"}") == 0)
    }

    /// Edge frames written to rsyslog, forwarded by it over TCP (RFC 5424 template) and over
    /// UDP (traditional template, which drops the structured data): the relay verifies and
    /// decodes every one.
    @Test(arguments: [
        #"protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format""#,
        #"protocol="udp" template="RSYSLOG_TraditionalForwardFormat""#,
    ])
    func edgeFramesPassUnchangedThroughAnIntermediateRsyslog(forward: String) async throws {
        let relay = try await RunningRelay.start()
        let udp = forward.contains("udp")
        let rsyslog = try Rsyslog(forwardTo: udp ? relay.udpPort : relay.tcpPort, forward)
        defer { rsyslog.stop() }
        // Wait until rsyslog forwards at all.
        try await sendThroughRsyslog(rsyslog, relay: relay, tag: "probe", "probe") { !relay.syslog.isEmpty }
        let events = (0..<150).map(EdgeFixture.event)
        var datagrams: [[UInt8]] = []
        for seq in 1...5 {
            datagrams += try EdgeFixture.messages(events: Array(events[(seq - 1) * 30..<seq * 30]), sequence: UInt64(seq))
        }
        #expect(datagrams.count > 5, "some frames need several fragments")
        try await Send.udp(datagrams, port: rsyslog.inputPort)
        await relay.wait(timeout: .seconds(15)) { relay.frames.count == 5 }
        await relay.stop()
        #expect(relay.frames.map(\.frame.sequence).sorted() == [1, 2, 3, 4, 5], "rsyslogd said: \(rsyslog.output)")
        #expect(relay.edgeEvents.count == 150)
        #expect(Set(relay.edgeEvents) == Set(events))
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 0)
        #expect(relay.counter("relay_rejected_total{reason=\"envelope_mismatch\"}") == 0)
    }
}
