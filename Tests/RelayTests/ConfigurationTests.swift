import Detection
import Foundation
import Relay
import Testing

@Suite("Relay configuration")
struct ConfigurationTests {
    @Test func parsesEverySetting() throws {
        let c = try RelayConfiguration.parse("""
            listen:
              - udp: "127.0.0.1:6514"
              - tcp: "[::1]:6515"
            data_directory: /tmp/relay-x
            passkey: "a passkey of enough length"
            limits: {max_message_bytes: 8192, max_connections: 10, idle_timeout_seconds: 60}
            freshness: {max_age_seconds: 120, max_future_seconds: 30}
            edges: {silence_seconds: 45, loss_after_seconds: 10}
            """, origin: "relay.yaml")
        #expect(c.listeners.map(\.description) == ["udp://127.0.0.1:6514", "tcp://[::1]:6515"])
        #expect(c.dataDirectory.path == "/tmp/relay-x")
        #expect(c.limits.maxMessageBytes == 8192 && c.limits.maxConnections == 10 && c.limits.idleTimeoutSeconds == 60)
        #expect(c.freshness.maxAge == .seconds(120) && c.freshness.maxFuture == .seconds(30))
        #expect(c.edgePolicy.silenceMilliseconds == 45_000 && c.edgePolicy.lossAfterMilliseconds == 10_000)
        if case .inline(let p)? = c.passkey { #expect(p == "a passkey of enough length") } else { Issue.record("passkey") }
    }

    @Test func everyMistakeWithItsLine() {
        do {
            _ = try RelayConfiguration.parse("""
                listen:
                  - udp: "nowhere"
                  - smtp: "127.0.0.1:25"
                passkey: short
                limits: {max_connections: 0}
                colour: blue
                """, origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            #expect(p.messages.count == 5, "\(p.description)")
            #expect(p.description.contains("relay.yaml:2:"))
            #expect(p.description.contains("relay.yaml:3:"))
            #expect(p.description.contains("passkey must be at least 16 bytes"))
            #expect(p.description.contains("limits.max_connections"))
            #expect(p.description.contains("unknown setting colour"))
        } catch {
            Issue.record("\(error)")
        }
    }

    /// The relay binary on a configured address: the README's path, end to end.
    @Test func relayRunListensWhereConfigured() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/relay").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the relay first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let port = Int.random(in: 30000...40000)
        let config = dir.appendingPathComponent("relay.yaml").path
        try "listen:\n  - udp: \"127.0.0.1:\(port)\"\ndata_directory: \(dir.path)/data\n".write(toFile: config, atomically: true, encoding: .utf8)
        let check = Process()
        check.executableURL = URL(fileURLWithPath: binary)
        check.arguments = ["check-config", "--config", config]
        check.standardOutput = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0)
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: binary)
        relay.arguments = ["run", "--config", config]
        let out = Pipe()
        relay.standardOutput = out
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        let printed = Printed()
        out.fileHandleForReading.readabilityHandler = { handle in printed.append(handle.availableData) }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, !printed.text.contains("login failure") {
            let logger = Process()
            logger.executableURL = URL(fileURLWithPath: "/usr/bin/logger")
            logger.arguments = ["--server", "127.0.0.1", "--port", String(port), "--udp", "-t", "sshd",
                                "Failed password for root from 203.0.113.9 port 22 ssh2"]
            try logger.run()
            logger.waitUntilExit()
            try await Task.sleep(for: .milliseconds(300))
        }
        relay.terminate()
        relay.waitUntilExit()
        let seen = printed.text
        #expect(seen.contains("login failure"), "relay printed: \(seen)")
        #expect(relay.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/passkey"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/edges.json"), "the registry is saved on shutdown")
    }
}

final class Printed: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) {
        lock.lock()
        data.append(d)
        lock.unlock()
    }
    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}
