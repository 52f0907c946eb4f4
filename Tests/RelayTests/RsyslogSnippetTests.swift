import Foundation
import NIOCore
import Testing
import TestSupport
import Wire

@testable import Relay

/// The rsyslog snippets operators copy from `deploy/rsyslog/`, run by a real rsyslogd against
/// the real relay on loopback: the file as shipped, with only the relay's address and port
/// (and the TLS CA's path) put in, as the comment at the top of each tells the operator to.
@Suite("rsyslog snippets (deploy/rsyslog)", .serialized)
struct RsyslogSnippetTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/rsyslog")

    static func snippet(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    /// `text` with `old` replaced, failing the test when `old` is not there (the snippet changed
    /// under the test).
    static func put(_ text: String, _ old: String, _ new: String) throws -> String {
        try #require(text.contains(old), "the snippet no longer holds \(old)")
        return text.replacingOccurrences(of: old, with: new)
    }

    /// A CA and a certificate it signed for `relay.internal` (the name the TLS snippet checks).
    static func certificates() throws -> (ca: String, cert: String, key: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("airgap-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try "subjectAltName=DNS:relay.internal\n".write(toFile: path("ext"), atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for arguments in [
            ["req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=airgap test CA", "-keyout", path("ca.key"), "-out", path("ca.pem")],
            ["req"] + ec + ["-subj", "/CN=relay.internal", "-keyout", path("relay.key"), "-out", path("relay.csr")],
            ["x509", "-req", "-in", path("relay.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
             "-days", "2", "-extfile", path("ext"), "-out", path("relay.crt")],
        ] {
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = arguments
            openssl.standardError = FileHandle.nullDevice
            openssl.standardOutput = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            try #require(openssl.terminationStatus == 0, "openssl \(arguments.joined(separator: " "))")
        }
        return (path("ca.pem"), path("relay.crt"), path("relay.key"))
    }

    /// What the Debian rsyslog.conf gives every snippet: a work directory (for disk queues) and
    /// the local input; here an input on loopback that the test's `logger` writes to.
    static func host(_ directory: URL, _ inputPort: Int) -> String {
        """
        global(workDirectory="\(directory.path)")
        module(load="imudp")
        input(type="imudp" address="127.0.0.1" port="\(inputPort)")

        """
    }

    /// Sends auth lines with `logger` (facility auth, numbered from 0) until `until` holds or
    /// 20 s pass: rsyslogd takes a moment to open its input and its connection.
    static func probe(_ rsyslog: Rsyslog, until: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        var n = 0
        while ContinuousClock.now < deadline, !until() {
            try Send.logger(["--server", "127.0.0.1", "--port", String(rsyslog.inputPort), "--udp", "--rfc5424", "-p", "auth.info",
                             "-t", "sshd", "Failed password for probe\(n) from 192.0.2.1 port \(n) ssh2"])
            n += 1
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Writes `Failed password for user<n>` for each `n` through rsyslog at facility authpriv.
    static func failures(_ numbers: Range<Int>, to rsyslog: Rsyslog) throws {
        for n in numbers {
            #expect(try Send.logger(["--server", "127.0.0.1", "--port", String(rsyslog.inputPort), "--udp", "--rfc5424",
                                     "-p", "authpriv.notice", "-t", "sshd", "Failed password for user\(n) from 203.0.113.7 port \(n) ssh2"]) == 0)
        }
    }

    static func users(_ relays: [RunningRelay]) -> [String] {
        relays.flatMap(\.syslogEvents).compactMap(\.user).filter { $0.hasPrefix("user") }
    }

    @Test func everySnippetPassesRsyslogdCheck() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".conf") }.sorted()
        #expect(names == ["50-airgap-intermediate.conf", "60-airgap-tcp.conf", "60-airgap-tls.conf", "60-airgap-udp.conf"])
        let (ca, _, _) = try Self.certificates()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("rsyslog-work-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        for name in names {
            var text = try Self.snippet(name)
            if name.contains("tls") { text = try Self.put(text, "/etc/rsyslog.d/airgap-relay-ca.pem", ca) }
            let (passed, output) = try Rsyslog.check(#"global(workDirectory="\#(work.path)")"# + "\n" + text)
            #expect(passed, "rsyslogd -N1 on \(name): \(output)")
            #expect(!output.lowercased().contains("error") && !output.lowercased().contains("warning"), "\(name): \(output)")
        }
        // The check is real: a broken snippet fails it.
        #expect(try !Rsyslog.check("auth.* action(type=\"omfwd\" target=\"relay.internal\" portt=\"5514\")\n").passed)
    }

    /// The TCP snippet as shipped: auth messages written while the relay is down all arrive
    /// when it is back; across an rsyslog restart during the outage too (its queue is saved to
    /// disk), but for the one message written into the connection the relay had closed, which
    /// rsyslog holds in memory to resend (ResendLastMSGOnReconnect) and loses when it stops.
    /// A message of another facility is not forwarded.
    @Test func tcpSnippetLosesNothingAcrossRelayRestarts() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("relay-test-\(UUID().uuidString)")
        var relays = [try await RunningRelay.start(dataDirectory: data)]
        let port = relays[0].tcpPort
        let snippet = try Self.put(Self.snippet("60-airgap-tcp.conf"), #"target="relay.internal" port="5514""#, #"target="127.0.0.1" port="\#(port)""#)
        var rsyslog = try Rsyslog { Self.host($0, $1) + snippet }
        defer { rsyslog.stop() }
        try await Self.probe(rsyslog) { relays[0].syslogEvents.contains { $0.user?.hasPrefix("probe") == true } }
        try Self.failures(0..<20, to: rsyslog)
        try Send.logger(["--server", "127.0.0.1", "--port", String(rsyslog.inputPort), "--udp", "-p", "local0.info", "-t", "sshd",
                         "Failed password for localzero from 203.0.113.7 port 1 ssh2"])
        await relays[0].wait(timeout: .seconds(15)) { Set(Self.users(relays)).count == 20 }

        // The relay restarts: what is written meanwhile waits in rsyslog's queue.
        await relays[0].stop()
        try Self.failures(20..<40, to: rsyslog)
        try await Task.sleep(for: .milliseconds(500))
        relays.append(try await RunningRelay.start(port: port, dataDirectory: data))
        // rsyslog retries every 5 s at first (action.resumeInterval), then less often: on a
        // busy runner the queue has come through after 30 s and more.
        await relays[1].wait(timeout: .seconds(60)) { Set(Self.users(relays)).count == 40 }
        let afterRelayRestart = Set((0..<40).map { "user\($0)" }).subtracting(Self.users(relays))
        #expect(afterRelayRestart.isEmpty, "lost \(afterRelayRestart.sorted()); rsyslogd said: \(rsyslog.output.suffix(2000))")

        // The relay stops again, and rsyslog is restarted as systemd restarts it meanwhile.
        await relays[1].stop()
        try Self.failures(40..<60, to: rsyslog)
        try await Task.sleep(for: .milliseconds(500))
        #expect(await rsyslog.terminate(), "rsyslogd did not exit on SIGTERM: \(rsyslog.output.suffix(2000))")
        rsyslog = try rsyslog.restarted()
        try await Task.sleep(for: .seconds(1))
        try Self.failures(60..<70, to: rsyslog)
        relays.append(try await RunningRelay.start(port: port, dataDirectory: data))
        await relays[2].wait(timeout: .seconds(60)) { Set(Self.users(relays)).count >= 69 }
        await relays[2].stop()
        let missing = Set((40..<70).map { "user\($0)" }).subtracting(Self.users(relays))
        #expect(missing.isSubset(of: ["user40"]), "lost \(missing.sorted()); rsyslogd said: \(rsyslog.output.suffix(2000))")
        #expect(!relays.flatMap(\.syslog).contains { $0.message.contains("localzero") }, "only auth and authpriv are forwarded")
        // rsyslog may send a message twice around a broken connection; never more.
        let users = Self.users(relays)
        #expect(users.count <= Set(users).count + 2, "\(users.count) events for \(Set(users).count) messages")
    }

    /// A relay with a TLS listener whose certificate (for relay.internal) the test CA signed,
    /// and rsyslogd on the TLS snippet pointed at it; `peer` replaces the name it checks.
    static func tlsPair(peer: String? = nil) async throws -> (RunningRelay, Rsyslog) {
        let (ca, cert, key) = try certificates()
        let relay = try await RunningRelay.start { c in
            c.listeners.append(.init(transport: .tls, host: "127.0.0.1", port: 0))
            c.tls = .init(certificateFile: cert, keyFile: key)
        }
        let port = try #require(await relay.app.tcpListeners.first { $0.listener.transport == .tls }?.bound.value().port)
        var snippet = try put(snippet("60-airgap-tls.conf"), "/etc/rsyslog.d/airgap-relay-ca.pem", ca)
        snippet = try put(snippet, #"target="relay.internal" port="6514""#, #"target="127.0.0.1" port="\#(port)""#)
        if let peer {
            snippet = try put(snippet, #"StreamDriverPermittedPeers="relay.internal""#, #"StreamDriverPermittedPeers="\#(peer)""#)
        }
        return (relay, try Rsyslog { host($0, $1) + snippet })
    }

    /// The TLS snippet as shipped: the relay's certificate, signed by the CA the snippet names,
    /// is checked by name (relay.internal), and the messages arrive over TLS.
    @Test func tlsSnippetDeliversOverTLSCheckingTheRelaysName() async throws {
        let (relay, rsyslog) = try await Self.tlsPair()
        defer { rsyslog.stop() }
        try await Self.probe(rsyslog) { relay.syslogEvents.contains { $0.user?.hasPrefix("probe") == true } }
        try Self.failures(0..<10, to: rsyslog)
        await relay.wait(timeout: .seconds(10)) { Set(Self.users([relay])).count == 10 }
        await relay.stop()
        #expect(Set(Self.users([relay])).count == 10, "rsyslogd said: \(rsyslog.output)")
        #expect(relay.counter("relay_messages_total{transport=\"tls\"}") >= 11)
        #expect(relay.counter("relay_messages_total{transport=\"tcp\"}") == 0)
        #expect(relay.counter("relay_rejected_total{reason=\"tls\"}") == 0)
    }

    /// The TLS snippet refuses a relay whose certificate names another host: nothing is sent
    /// to it (a man in the middle with a certificate from the same CA gets nothing).
    @Test func tlsSnippetRefusesAnotherName() async throws {
        let (relay, rsyslog) = try await Self.tlsPair(peer: "relay.other")
        defer { rsyslog.stop() }
        try Self.failures(0..<10, to: rsyslog)
        // Long enough for rsyslog to connect, fail the check and retry.
        try await Task.sleep(for: .seconds(3))
        await relay.stop()
        #expect(Self.users([relay]).isEmpty)
        #expect(relay.syslog.isEmpty)
    }

    /// The intermediate snippet as shipped: edge frames sent to it over UDP and over TCP reach
    /// the relay byte for byte (every signature checks), across a relay restart.
    @Test func intermediateSnippetPassesEdgeFramesUntouchedAcrossARelayRestart() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("relay-test-\(UUID().uuidString)")
        let first = try await RunningRelay.start(dataDirectory: data)
        let port = first.tcpPort
        let rsyslog = try Rsyslog { directory, input in
            var snippet = try Self.put(Self.snippet("50-airgap-intermediate.conf"), #"target="relay.internal" port="5514""#, #"target="127.0.0.1" port="\#(port)""#)
            snippet = try Self.put(snippet, #"input(type="imudp" port="5514""#, #"input(type="imudp" address="127.0.0.1" port="\#(input)""#)
            snippet = try Self.put(snippet, #"input(type="imtcp" port="5514""#, #"input(type="imtcp" address="127.0.0.1" port="\#(input)""#)
            return #"global(workDirectory="\#(directory.path)")"# + "\n" + snippet
        }
        defer { rsyslog.stop() }
        try await Self.probe(rsyslog) { !first.syslog.isEmpty }
        let events = (0..<240).map(EdgeFixture.event)
        func frame(_ seq: Int, budget: Int) throws -> [[UInt8]] {
            try EdgeFixture.messages(events: Array(events[(seq - 1) * 40..<seq * 40]), sequence: UInt64(seq), budget: budget)
        }
        let udp = try (1...3).flatMap { try frame($0, budget: Envelope.udpBudgetBytes) }
        #expect(udp.count > 3, "some frames need several fragments")
        try await Send.udp(udp, port: rsyslog.inputPort)
        await first.wait(timeout: .seconds(15)) { first.frames.count == 3 }
        await first.stop()

        // The relay is down: frames over TCP (octet counted, as the edge sends them) wait.
        let tcp = try (4...6).flatMap { try frame($0, budget: Envelope.tcpBudgetBytes) }.map { String(decoding: $0, as: UTF8.self) }
        try await Send.tcp(Send.octetCounted(tcp), port: rsyslog.inputPort)
        try await Task.sleep(for: .milliseconds(500))
        let second = try await RunningRelay.start(port: port, dataDirectory: data)
        await second.wait(timeout: .seconds(30)) { second.frames.count == 3 }
        await second.stop()
        #expect(first.frames.map(\.frame.sequence).sorted() == [1, 2, 3], "rsyslogd said: \(rsyslog.output)")
        #expect(second.frames.map(\.frame.sequence).sorted() == [4, 5, 6], "rsyslogd said: \(rsyslog.output)")
        #expect(Set(first.edgeEvents + second.edgeEvents) == Set(events))
        for relay in [first, second] {
            #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 0)
            #expect(relay.counter("relay_rejected_total{reason=\"envelope_mismatch\"}") == 0)
            #expect(relay.counter("relay_rejected_total{reason=\"syntax\"}") == 0)
        }
    }
}
