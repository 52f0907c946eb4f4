import Detection
import Foundation
import Plumbing
import Relay
import Testing
import TestSupport
import Wire

@Suite("Relay configuration")
struct ConfigurationTests {
    /// A configuration file that cannot be read is one problem, named with its path.
    @Test func anUnreadableFileIsAProblemWithItsPath() {
        let path = "/nonexistent-\(UUID().uuidString)/relay.yaml"
        #expect(throws: ConfigurationProblems.self) { try RelayConfiguration.load(file: path) }
        do {
            _ = try RelayConfiguration.load(file: path)
        } catch {
            #expect("\(error)" == "\(path): cannot read the file")
        }
        // The edge's reader is the same: EdgeTests.CommandLineTests checks it through the binary.
    }

    @Test func parsesEverySetting() throws {
        let c = try RelayConfiguration.parse("""
            listen:
              - udp: "127.0.0.1:6514"
              - tcp: "[::1]:6515"
            data_directory: /tmp/relay-x
            passkey: "a passkey of enough length"
            limits: {max_message_bytes: 8192, max_connections: 10, idle_timeout_seconds: 60}
            freshness: {max_age_seconds: 120, max_future_seconds: 30}
            edges: {silence_seconds: 45, loss_after_seconds: 10, sources: {web-01: [10.0.1.5, "2001:db8::/64"], db-01: 10.0.2.9}}
            """, origin: "relay.yaml")
        #expect(c.edgeSources["web-01"]?.map(\.description) == ["10.0.1.5", "2001:db8::/64"])
        #expect(c.edgeSources["db-01"]?.first?.contains("10.0.2.9") == true)
        #expect(c.listeners.map(\.description) == ["udp://127.0.0.1:6514", "tcp://[::1]:6515"])
        #expect(c.dataDirectory.path == "/tmp/relay-x")
        #expect(c.limits.maxMessageBytes == 8192 && c.limits.maxConnections == 10 && c.limits.idleTimeoutSeconds == 60)
        #expect(c.freshness.maxAge == .seconds(120) && c.freshness.maxFuture == .seconds(30))
        #expect(c.edgePolicy.silenceMilliseconds == 45_000 && c.edgePolicy.lossAfterMilliseconds == 10_000)
        if case .inline(let p)? = c.passkey { #expect(p == "a passkey of enough length") } else { Issue.record("passkey") }
    }

    @Test func correlationAllowlistStoreAndHTTP() throws {
        let c = try RelayConfiguration.parse("""
            correlation:
              rules:
                - id: brute-force
                  threshold: 10
                  window_seconds: 300
                - id: login-success
                  enabled: false
                - id: root-login
                  match: {kind: login, outcome: success, user: [root, Administrator]}
                  group_by: [host]
                  severity: critical
                  title: "root logged in to {host} from {source_ip}"
            allow:
              - source_ip: [10.0.5.0/24, "2001:db8::/32"]
                kind: login
                reason: jump hosts
              - host: db1
                weekdays: [sat, sun]
                from: "01:00"
                to: "05:30"
            store: {event_retention_days: 7, incident_retention_days: 30}
            console: events
            http: "127.0.0.1:19514"
            """, origin: "relay.yaml")
        let brute = try #require(c.correlationRules.first { $0.id == "brute-force" })
        #expect(brute.shape == .threshold(count: 10) && brute.windowSeconds == 300)
        #expect(brute.quietSeconds == 120, "an override keeps what it does not give")
        #expect(c.correlationRules.first { $0.id == "login-success" }?.enabled == false)
        let root = try #require(c.correlationRules.last)
        #expect(root.id == "root-login" && root.severity == .critical && root.shape == .single && root.groupBy == [.host])
        #expect(root.match.matches(Event(kind: .login, outcome: .success, user: "administrator")))
        #expect(!root.match.matches(Event(kind: .login, outcome: .success, user: "alice")))
        #expect(c.allowlist.count == 2)
        #expect(c.allowlist[0].sources.map(\.description) == ["10.0.5.0/24", "2001:db8::/32"] && c.allowlist[0].kinds == ["login"])
        #expect(c.allowlist[1].weekdays == [6, 7] && c.allowlist[1].fromMinute == 60 && c.allowlist[1].toMinute == 330)
        #expect(c.pipeline.eventRetentionDays == 7 && c.pipeline.incidentRetentionDays == 30)
        #expect(c.consoleEvents)
        #expect(c.http == .init(host: "127.0.0.1", port: 19514))
        #expect(try RelayConfiguration.parse("http: off", origin: "x").http == nil)
        #expect(RelayConfiguration.embedded.http == .init(host: "127.0.0.1", port: 9514))
    }

    @Test func correlationMistakesWithTheirLines() {
        do {
            _ = try RelayConfiguration.parse("""
                correlation:
                  rules:
                    - id: new-rule
                      match: {kind: logn, colour: red}
                    - id: brute-force
                      type: pattern
                      group_by: [source]
                allow:
                  - source_ip: 10.0.0.300/8
                    weekdays: [funday]
                    from: "25:00"
                """, origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            let d = p.description
            #expect(d.contains("relay.yaml:3:") && d.contains("new rule new-rule needs severity"), "\(d)")
            #expect(d.contains("kind logn is not in the vocabulary"))
            #expect(d.contains("unknown match condition colour"))
            #expect(d.contains("relay.yaml:6:") && d.contains("type must be single, threshold or sequence"))
            #expect(d.contains("group_by: source is not a field"))
            #expect(d.contains("relay.yaml:9:") && d.contains("10.0.0.300/8 is not an address"))
            #expect(d.contains("funday is not a weekday"))
            #expect(d.contains("from must be a time of day"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func channelsAndProxy() throws {
        let c = try RelayConfiguration.parse("""
            channels:
              - name: oncall
                type: dingtalk
                webhook_env: DINGTALK_WEBHOOK
                secret_file: /etc/relay/dingtalk-secret
                keyword: 告警
                at_mobiles: ["13800000000"]
                min_severity: high
                language: en
            proxy: "http://10.0.0.9:3128"
            """, origin: "relay.yaml")
        let ch = try #require(c.channels.first)
        #expect(ch.name == "oncall" && ch.kind == .dingtalk && ch.webhook == .environment("DINGTALK_WEBHOOK"))
        #expect(ch.secret == .file("/etc/relay/dingtalk-secret") && ch.keyword == "告警" && ch.atMobiles == ["13800000000"])
        #expect(ch.minimumSeverity == .high && ch.language == .en && ch.perMinute == 20)
        #expect(c.proxy == .init(host: "10.0.0.9", port: 3128))
        do {
            _ = try RelayConfiguration.parse("""
                channels:
                  - type: pigeon
                    webhook: x
                  - type: dingtalk
                    webhook: "ftp://x"
                    secret: a
                    secret_env: B
                analysis:
                  url: "http://127.0.0.1:9/v1/chat/completions"
                  model: m
                  api_key: sk-x
                  api_key_env: OPENAI_KEY
                """, origin: "relay.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            #expect(p.description.contains("relay.yaml:2:") && p.description.contains("type must be dingtalk"), "\(p)")
            #expect(p.description.contains("webhook must be an http(s) URL"))
            #expect(p.description.contains("give only one of secret, secret_file, secret_env"))
            // The analysis's key given twice was taken silently (the last form won).
            #expect(p.description.contains("relay.yaml:12:") && p.description.contains("give only one of analysis.api_key, analysis.api_key_file, analysis.api_key_env"), "\(p)")
        }
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

    /// The shipped example with its alert and analysis sections switched on: check-config
    /// names every secret file it cannot read (never a secret), then passes once they exist.
    @Test func checkConfigReadsTheSecretsOfTheShippedExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/relay").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the relay first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Uncomment the example's optional sections; its files move under `dir`.
        var lines: [String] = []
        for line in try String(contentsOf: root.appendingPathComponent("deploy/examples/relay.yaml"), encoding: .utf8).split(separator: "\n") {
            var l = String(line)
            if l.hasPrefix("# "), l.dropFirst(2).hasPrefix(" ") || ["channels:", "proxy:", "analysis:"].contains(where: { l.dropFirst(2).hasPrefix($0) }) {
                l = String(l.dropFirst(2))
            }
            lines.append(l.replacingOccurrences(of: "/etc/relay/", with: dir.path + "/").replacingOccurrences(of: "/var/lib/relay", with: dir.path + "/data"))
        }
        let config = dir.appendingPathComponent("relay.yaml").path
        try lines.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
        try "a passkey of enough bytes for the example".write(toFile: dir.path + "/passkey", atomically: true, encoding: .utf8)
        func check() throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["check-config", "--config", config]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let (status, printed) = try check()
        #expect(status == 78)
        #expect(printed.contains("channel oncall") && printed.contains("dingtalk-webhook"), "\(printed)")
        #expect(printed.contains("analysis: api_key") && printed.contains("analysis: api_secret"), "\(printed)")
        try "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef".write(toFile: dir.path + "/dingtalk-webhook", atomically: true, encoding: .utf8)
        try "SECexamplesecret".write(toFile: dir.path + "/dingtalk-secret", atomically: true, encoding: .utf8)
        try "addd2272b6d8b7c8abdd79531420ca3b".write(toFile: dir.path + "/spark-api-key", atomically: true, encoding: .utf8)
        try "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi".write(toFile: dir.path + "/spark-api-secret", atomically: true, encoding: .utf8)
        let (again, said) = try check()
        #expect(again == 0, "\(said)")
        #expect(!said.contains("0123456789abcdef") && !printed.contains("SECexample"), "no secret printed")
    }

    /// The relay binary on a configured address: the README's path, end to end.
    @Test func relayRunListensWhereConfigured() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/relay").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the relay first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Ports checked free (a random one can be an ephemeral port another test holds).
        let ports = try FreePort.pick(2)
        let port = ports[0]
        let config = dir.appendingPathComponent("relay.yaml").path
        try "listen:\n  - udp: \"127.0.0.1:\(port)\"\nhttp: \"127.0.0.1:\(ports[1])\"\ndata_directory: \(dir.path)/data\n".write(toFile: config, atomically: true, encoding: .utf8)
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
        // Generous: on a loaded runner (the whole suite on two cores) the debug relay's first
        // start (passkey, store) and the `logger` processes took longer than 10 s once. The
        // loop ends as soon as the incident is printed.
        let deadline = ContinuousClock.now + .seconds(30)
        // Five failed passwords from one source are a brute force: the console shows the incident.
        while ContinuousClock.now < deadline, !printed.text.contains("INCIDENT") {
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
        #expect(seen.contains("INCIDENT #1 HIGH brute_force"), "relay printed: \(seen)")
        #expect(relay.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/passkey"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/data/relay.sqlite"))
        let journal = (try? String(contentsOfFile: dir.path + "/data/incidents.jsonl", encoding: .utf8)) ?? ""
        #expect(journal.contains("\"kind\": \"brute_force\""), "journal: \(journal)")

        // relay alerts --json reads the store the relay left.
        let alerts = Process()
        alerts.executableURL = URL(fileURLWithPath: binary)
        alerts.arguments = ["alerts", "--json", "--config", config]
        let alertsOut = Pipe()
        alerts.standardOutput = alertsOut
        try alerts.run()
        let data = alertsOut.fileHandleForReading.readDataToEndOfFile()
        alerts.waitUntilExit()
        #expect(alerts.terminationStatus == 0)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let first = try #require(lines.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(first["kind"] as? String == "brute_force")
        #expect(first["severity"] as? String == "high")
        #expect(first["source_ip"] as? String == "203.0.113.9")
        #expect(first["host"] as? String != nil)
        #expect((first["count"] as? Int ?? 0) >= 5)
        #expect(first["delivered"] as? Bool == false)
        #expect(first["first_seen"] is String && first["last_seen"] is String)
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
