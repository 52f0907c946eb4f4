import Detection
import Foundation
import Logging
import Plumbing
import Relay
import ServiceLifecycle
import TestSupport
import Testing
import Wire

@testable import Edge

/// The edge end to end: a real log file, the real edge, the real relay on loopback.
@Suite("Edge delivery", .serialized)
struct DeliveryTests {
    let dir: URL
    let log: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        log = dir.appendingPathComponent("auth.log").path
        FileManager.default.createFile(atPath: log, contents: nil)
    }

    static func key() throws -> String {
        try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "web-01")!).hexEncoded
    }

    func configuration(transport: String, port: Int, extra: String = "") throws -> String {
        """
        edge_id: web-01
        key: \(try Self.key())
        relay:
          transport: \(transport)
          addresses: ["127.0.0.1:\(port)"]
        sources:
          - file: \(log)
        start_at: beginning
        state_directory: \(dir.path)/state
        heartbeat_seconds: 1
        batch:
          max_events: 16
          max_delay_ms: 50
        spool:
          resend_window_seconds: 2
        \(extra)
        """
    }

    /// One failed sshd login per line, told apart by its source port.
    static func line(_ n: Int) -> String {
        "Nov 29 16:10:15 web-01 sshd[4242]: Failed password for root from 203.0.113.9 port \(10000 + n) ssh2\n"
    }

    func append(_ range: Range<Int>) throws {
        let h = try #require(FileHandle(forWritingAtPath: log))
        try h.seekToEnd()
        try h.write(contentsOf: Data(range.map(Self.line).joined().utf8))
        try h.close()
    }

    func runEdge(_ yaml: String, _ body: () async throws -> Void) async throws {
        var logger = Logger(label: "edge-test")
        logger.logLevel = .warning
        let configuration = try EdgeConfiguration.parse(yaml, origin: "test")
        let app = try EdgeApp(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [app.readerService, app.sender], logger: logger)
        let task = Task { try await group.run() }
        do {
            try await body()
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    static func ports(_ events: [Event]) -> [Int64] { events.compactMap(\.sourcePort).map { $0 - 10000 } }

    @Test func overUDP() async throws {
        let relay = try await RunningRelay.start()
        try append(0..<5)
        try await runEdge(try configuration(transport: "udp", port: relay.udpPort)) {
            await relay.wait { relay.edgeEvents.count == 5 }
            try append(5..<200)
            await relay.wait { relay.edgeEvents.count == 200 }
            // Heartbeats arrive too.
            await relay.wait { relay.frames.contains { if case .heartbeat = $0.body { true } else { false } } }
        }
        await relay.stop()
        #expect(Self.ports(relay.edgeEvents).sorted() == Array(0..<200))
        #expect(relay.frames.contains { if case .heartbeat(let h) = $0.body { h.counters["lines_read"] != nil } else { false } })
        #expect(relay.counter("relay_rejected_total{reason=\"bad_mac\"}") == 0)
    }

    /// The relay goes away and comes back on the same port: what the edge read meanwhile is
    /// spooled and delivered after the reconnect, and nothing twice.
    @Test func overTCPThroughARelayRestart() async throws {
        let first = try await RunningRelay.start()
        let port = first.tcpPort
        var second: RunningRelay?
        try await runEdge(try configuration(transport: "tcp", port: port)) {
            try append(0..<50)
            await first.wait { first.edgeEvents.count == 50 }
            await first.stop()
            try append(50..<120)
            try await Task.sleep(for: .milliseconds(300))
            let relay = try await RunningRelay.start(port: port)
            second = relay
            await relay.wait(timeout: .seconds(15)) { Set(Self.ports(first.edgeEvents + relay.edgeEvents)).count == 120 }
        }
        let relay = try #require(second)
        await relay.stop()
        let all = Self.ports(first.edgeEvents) + Self.ports(relay.edgeEvents)
        #expect(Set(all) == Set(0..<120), "every line delivered")
        // Each relay drops repeats by sequence; across the two (separate stores here) the
        // resend window may repeat a few, never lose one.
        #expect(Set(Self.ports(relay.edgeEvents)).count == Self.ports(relay.edgeEvents).count)
        #expect(Self.ports(first.edgeEvents).count == 50)
    }

    @Test func followsRotationWhileRunning() async throws {
        let relay = try await RunningRelay.start()
        try await runEdge(try configuration(transport: "udp", port: relay.udpPort)) {
            try append(0..<10)
            await relay.wait { relay.edgeEvents.count == 10 }
            try append(10..<15)
            try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
            FileManager.default.createFile(atPath: log, contents: nil)
            try append(15..<25)
            await relay.wait { relay.edgeEvents.count == 25 }
            // copytruncate
            try append(25..<30)
            try? FileManager.default.removeItem(atPath: log + ".1")
            try FileManager.default.copyItem(atPath: log, toPath: log + ".1")
            let h = try #require(FileHandle(forWritingAtPath: log))
            try h.truncate(atOffset: 0)
            try h.close()
            try append(30..<40)
            await relay.wait { relay.edgeEvents.count >= 40 }
        }
        await relay.stop()
        #expect(Self.ports(relay.edgeEvents).sorted() == Array(0..<40))
    }

    @Test func checkConfigReportsEveryMistake() throws {
        let yaml = """
            edge_id: "bad id"
            key: 1234
            relay:
              transport: carrier-pigeon
              addresses: ["nohost", "127.0.0.1:99999"]
            batch:
              max_events: 0
            sources:
              - eventlog: Security
            colour: blue
            """
        do {
            _ = try EdgeConfiguration.parse(yaml, origin: "edge.yaml")
            Issue.record("accepted")
        } catch let p as ConfigurationProblems {
            let text = p.description
            #expect(text.contains("edge.yaml:1:"), "line numbers: \(text)")
            #expect(text.contains("edge_id must be"))
            #expect(text.contains("key must be 64 hex digits"))
            #expect(text.contains("relay.transport must be udp or tcp"))
            #expect(text.contains("relay address nohost"))
            #expect(text.contains("relay address 127.0.0.1:99999"))
            #expect(text.contains("batch.max_events"))
            #expect(text.contains("unknown setting colour"))
            #if os(Windows)
            #expect(p.messages.count == 7)
            #else
            #expect(text.contains("eventlog sources need the Windows build of the edge"))
            #expect(p.messages.count == 8)
            #endif
        }
    }
}
