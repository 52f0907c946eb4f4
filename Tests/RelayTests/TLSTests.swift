import Detection
import Foundation
import NIOCore
import Plumbing
import Testing
import TestSupport
import Wire

@testable import Relay

/// Syslog over TLS (RFC 5425) with a certificate made by openssl for the test.
@Suite("TLS", .serialized)
struct TLSTests {
    /// A self-signed certificate for localhost and its key, in a fresh directory.
    static func certificate() throws -> (cert: String, key: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("relay.crt").path, key = dir.appendingPathComponent("relay.key").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "-keyout", key, "-out", cert]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        return (cert, key)
    }

    @Test func edgeFramesAndPlainSyslogOverTLS() async throws {
        let (cert, key) = try Self.certificate()
        let relay = try await RunningRelay.start { c in
            c.listeners.append(.init(transport: .tls, host: "127.0.0.1", port: 0))
            c.tls = .init(certificateFile: cert, keyFile: key)
        }
        let port = try #require(await relay.app.tcpListeners.first { $0.listener.transport == .tls }?.bound.value().port)
        let frames = try (1...3).flatMap { seq in
            try EdgeFixture.messages(events: (0..<40).map(EdgeFixture.event), sequence: UInt64(seq), budget: Envelope.tcpBudgetBytes)
        }.map { String(decoding: $0, as: UTF8.self) }
        let plain = "<38>1 2026-11-29T16:10:15Z web9 sshd 77 - - Failed password for root from 198.51.100.4 port 2222 ssh2"
        try await Send.tls(Send.octetCounted(frames + [plain]), port: port, trust: cert)
        await relay.wait { relay.frames.count == 3 && relay.syslogEvents.count == 1 }
        // Plain TCP to the TLS port is refused and counted, and the relay goes on.
        try await Send.tcp(Array(Send.octetCounted([plain])), port: port)
        await relay.wait { relay.counter("relay_rejected_total{reason=\"tls\"}") == 1 }
        await relay.stop()
        #expect(relay.frames.map(\.frame.sequence).sorted() == [1, 2, 3])
        #expect(relay.syslogEvents.first?.sourceIP == "198.51.100.4")
        #expect(relay.counter("relay_messages_total{transport=\"tls\"}") == frames.count + 1)
        #expect(relay.counter("relay_rejected_total{reason=\"tls\"}") == 1)
        #expect(relay.syslogEvents.count == 1, "nothing from the plain connection was read as syslog")
    }

    /// A connection to the TLS port that never completes its handshake is closed after
    /// `tls_handshake_seconds` (it held a descriptor for the whole idle timeout before), and
    /// one that completed it stays open while it sends messages.
    @Test func aHandshakeThatNeverCompletesIsClosed() async throws {
        let (cert, key) = try Self.certificate()
        let relay = try await RunningRelay.start(limits: {
            var l = RelayConfiguration.Limits()
            l.tlsHandshakeSeconds = 1
            l.idleTimeoutSeconds = 60
            return l
        }()) { c in
            c.listeners.append(.init(transport: .tls, host: "127.0.0.1", port: 0))
            c.tls = .init(certificateFile: cert, keyFile: key)
        }
        let port = try #require(await relay.app.tcpListeners.first { $0.listener.transport == .tls }?.bound.value().port)
        let silent = try RawTCP(from: "127.0.0.1", to: port)
        let started = ContinuousClock.now
        let closed = await RunningRelay.waitUntil(timeout: .seconds(5)) { silent.closedByPeer() }
        let took = ContinuousClock.now - started
        await relay.stop()
        #expect(closed && took >= .milliseconds(800), "closed \(closed) after \(took)")
    }

    @Test func configurationNeedsTheFilesAndCheckConfigLoadsThem() throws {
        #expect(throws: ConfigurationProblems.self) {
            try RelayConfiguration.parse("listen:\n  - tls: \"127.0.0.1:6514\"\n", origin: "relay.yaml")
        }
        let (cert, key) = try Self.certificate()
        let good = try RelayConfiguration.parse("""
            listen:
              - tls: "127.0.0.1:6514"
            tls: {certificate_file: \(cert), key_file: \(key)}
            """, origin: "relay.yaml")
        #expect(good.listeners.first?.transport == .tls)
        try good.checkTLS()
        let swapped = try RelayConfiguration.parse("""
            listen:
              - tls: "127.0.0.1:6514"
            tls: {certificate_file: \(key), key_file: \(cert)}
            """, origin: "relay.yaml")
        #expect(throws: RelayError.self) { try swapped.checkTLS() }
    }
}

/// The HTTPS paths every real deployment uses: the robot and the model served over TLS with
/// a certificate of an authority the relay is told to trust (`outbound_ca_file`).
@Suite("Outbound HTTPS", .serialized)
struct OutboundHTTPSTests {
    @Test func theRobotAndTheModelOverHTTPSWithTheTrustedAuthority() async throws {
        let (cert, key) = try TLSTests.certificate()
        let robot = try await FakeRobot(tls: (cert, key))
        let llm = try await FakeLLM(tls: (cert, key))
        #expect(robot.webhook.hasPrefix("https://") && llm.url.hasPrefix("https://"))
        let relay = try await AnalysisTests.relay(robot, llm, trust: cert)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.78", sequence: 1)
        await relay.wait { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await llm.stop()
        #expect(robot.accepted.first?.text.contains("203.0.113.78") == true)
        #expect(robot.accepted.first?.text.contains("password-guessing attack") == true, "the model's analysis, over HTTPS")
    }

    /// Spark's WebSocket API over `wss://`, as the real one is only served: the handshake's
    /// signed URL, the question and the streamed answer go through TLS with the trusted
    /// authority, and the alert carries the answer.
    @Test func sparkOverWSSWithTheTrustedAuthority() async throws {
        let (cert, key) = try TLSTests.certificate()
        let robot = try await FakeRobot(tls: (cert, key))
        let spark = try await FakeSpark(tls: (cert, key))
        #expect(spark.url().hasPrefix("wss://"))
        let relay = try await SparkTests.relay(robot, spark, trust: cert)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.80", sequence: 1)
        await relay.wait(timeout: .seconds(10)) { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(spark.record.requests.count == 1 && spark.record.completed == 1, "\(spark.record)")
        #expect(robot.accepted.first?.text.contains(spark.answer) == true, "Spark's analysis, over wss")
    }

    /// Spark at an IPv6 address: the URL writes it in brackets, the socket takes it without,
    /// and the certificate is checked against the address (no SNI for an address). The
    /// brackets went to the socket before, and no analysis ever came.
    @Test func sparkOverWSSAtAnIPv6Address() async throws {
        let (cert, key) = try TLSTests.certificate()
        let robot = try await FakeRobot()
        let spark = try await FakeSpark(host: "::1", tls: (cert, key))
        #expect(spark.url().hasPrefix("wss://[::1]:"))
        let relay = try await SparkTests.relay(robot, spark, trust: cert)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.82", sequence: 1)
        await relay.wait(timeout: .seconds(10)) { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(spark.record.requests.count == 1 && spark.record.completed == 1, "\(spark.record)")
        #expect(robot.accepted.first?.text.contains(spark.answer) == true, "Spark's analysis, over wss to [::1]")
    }

    /// Without the authority, Spark's certificate is refused: no question reaches it, and
    /// the alert goes without an analysis.
    @Test func sparkWithAnUntrustedCertificateIsNotAsked() async throws {
        let (cert, key) = try TLSTests.certificate()
        let robot = try await FakeRobot()
        let spark = try await FakeSpark(tls: (cert, key))
        let relay = try await SparkTests.relay(robot, spark)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.81", sequence: 1)
        await relay.wait(timeout: .seconds(10)) { robot.accepted.count == 1 }
        await relay.stop()
        await robot.stop()
        await spark.stop()
        #expect(spark.record.requests.isEmpty && spark.record.connections == 0, "\(spark.record)")
        #expect(robot.accepted.count == 1 && robot.accepted.first?.text.contains(spark.answer) == false)
    }

    /// Without the authority, the robot's certificate is refused: nothing is posted, the
    /// alert stays queued and the failure is counted. (The HTTP client tries to connect
    /// again until the request's timeout, so the failure comes after it: 2 s here.)
    @Test func anUntrustedCertificateIsRefused() async throws {
        let (cert, key) = try TLSTests.certificate()
        let robot = try await FakeRobot(tls: (cert, key))
        let relay = try await DeliveryTests.relay(robot, timeoutSeconds: 2)
        try await DeliveryTests.bruteForce(relay, from: "203.0.113.79", sequence: 1)
        await relay.wait(timeout: .seconds(15)) { relay.counter("relay_alert_failures_total{channel=\"oncall\"}") >= 1 }
        await relay.stop()
        await robot.stop()
        #expect(relay.counter("relay_alert_failures_total{channel=\"oncall\"}") >= 1)
        #expect(robot.requests == 0 && robot.accepted.isEmpty)
        #expect(try relay.app.store.outbox(status: .pending).count == 1)
    }

    @Test func aCAFileThatIsNoCertificateIsAConfigurationMistake() throws {
        let bogus = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString).pem").path
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: bogus))
        do {
            _ = try RelayConfiguration.parse("outbound_ca_file: \(bogus)\n", origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            #expect(p.description.contains("relay.yaml:1:") && p.description.contains("outbound_ca_file must be a readable file of PEM certificates"), "\(p)")
        }
    }
}
