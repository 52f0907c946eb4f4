import Foundation
import TestSupport
import Testing
import Wire

@testable import Relay

/// The relay's command-line contract (PRODUCT.md), each command through the real binary on
/// the store a running relay writes: check-config, edge-key, status, alerts (text) and
/// --retry-dead; and `relay run` on its embedded defaults.
@Suite("relay command line", .serialized)
struct CommandLineContractTests {
    static var binaryBuilt: Bool { FileManager.default.isExecutableFile(atPath: RelayProcess.binary) }

    @Test(.enabled(if: binaryBuilt, "build the relay first"))
    func checkConfigEdgeKeyStatusAlertsAndRetryDead() async throws {
        // A webhook where nothing listens, one attempt: the alert becomes a dead letter.
        let closed = try FreePort.pick(1)[0]
        let relay = try RelayProcess(extra: """
            channels:
              - name: hook
                type: webhook
                webhook: "http://127.0.0.1:\(closed)/hook"
                max_attempts: 1

            """)
        defer { relay.kill9() }
        #expect(await relay.waitUntilReady())

        let check = try await relay.command(["check-config"])
        #expect(check.status == 0 && check.output.contains("ok"), "\(check.output)")

        let key = try await relay.command(["edge-key", "--edge", "web-01"])
        let expected = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeFixture.edge).hexEncoded
        #expect(key.status == 0 && key.output.split(separator: "\n").first.map(String.init) == expected, "\(key.output)")
        #expect(key.output.contains("edge_id: web-01") && key.output.contains("key: \(expected)"))
        let bad = try await relay.command(["edge-key", "--edge", "not an id"])
        #expect(bad.status != 0)
        // A rotated key: generation 2 (deploy/README.md, "Rotate").
        let rotated = try await relay.command(["edge-key", "--edge", "web-01", "--generation", "2"])
        let second = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeFixture.edge, generation: 2).hexEncoded
        #expect(rotated.status == 0 && rotated.output.contains("key: \(second)") && second != expected, "\(rotated.output)")
        #expect(try await relay.command(["edge-key", "--edge", "web-01", "--generation", "0"]).status != 0)

        // An edge's account.created: an incident, its alert refused by the closed port.
        var created = EdgeFixture.event(1)
        created.kind = .accountCreated
        created.outcome = .success
        created.targetUser = "backdoor"
        created.timeMicroseconds = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try await Send.udp(try EdgeFixture.messages(events: [created], sequence: 1), port: relay.udpPort)

        var alerts = ""
        let dead = await RunningRelay.waitUntilAsync(timeout: .seconds(30)) {
            alerts = (try? await relay.command(["alerts"]))?.output ?? ""
            return alerts.contains("DEAD LETTER: incident #1 to hook")
        }
        #expect(dead, "relay alerts printed: \(alerts)")
        #expect(alerts.contains("#1 ") && alerts.contains("account.created") && alerts.contains("backdoor"), "\(alerts)")

        var status = ""
        let heard = await RunningRelay.waitUntilAsync(timeout: .seconds(30)) {
            status = (try? await relay.command(["status"]))?.output ?? ""
            return status.contains("web-01") && status.contains("outbox hook")
        }
        #expect(heard, "relay status printed: \(status)")
        #expect(status.contains("events: 1") && status.contains("incidents: 1"), "\(status)")
        #expect(status.contains("KEY") && status.contains("\tcurrent"), "which key web-01 signs with: \(status)")

        let retry = try await relay.command(["alerts", "--retry-dead"])
        #expect(retry.status == 0 && retry.output.contains("1 dead letter(s) queued again"), "\(retry.output)")
        #expect(await relay.stop())
    }

    /// `relay run` with no configuration: UDP and TCP syslog on 127.0.0.1:5514, the status
    /// page on 127.0.0.1:9514, the store in ./relay-data/, incidents on the console.
    @Test(.enabled(if: binaryBuilt && FreePort.free([5514, 9514]), "build the relay first; ports 5514 and 9514 must be free"))
    func runOnItsEmbeddedDefaults() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-defaults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RelayProcess.binary)
        p.arguments = ["run"]
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let printed = Printed()
        out.fileHandleForReading.readabilityHandler = { printed.append($0.availableData) }
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let healthy = await RunningRelay.waitUntilAsync(timeout: .seconds(20)) {
            ((try? await Send.httpGet(port: 9514, path: "/healthz", timeout: .seconds(2)))?.status ?? 0) == 200
        }
        #expect(healthy)
        let lines = (0..<6).map { n in
            Array("<38>Dec  6 10:00:0\(n) web-01 sshd[7]: Failed password for root from 198.51.100.61 port 4000\(n) ssh2".utf8)
        }
        try await Send.udp(lines, port: 5514)
        #expect(await RunningRelay.waitUntil(timeout: .seconds(15)) { printed.text.contains("brute_force") }, "\(printed.text)")
        p.terminate()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/relay-data/relay.sqlite"))
    }
}
