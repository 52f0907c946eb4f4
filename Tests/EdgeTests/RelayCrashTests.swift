import Foundation
import Relay
import TestSupport
import Testing
import Wire

/// Issue 10, class 8: exactly once across relay crashes. The real edge binary follows a file
/// over TCP while the real relay binary is killed with SIGKILL again and again. The edge
/// resends its recent frames after each reconnect; the relay commits its replay windows in
/// the transaction that stores the events they admitted, so it refuses exactly the frames
/// whose events it has, and takes the rest. Before: every event arrived, and about half of
/// them were stored twice (the windows were saved every 5 s, apart from the events).
@Suite("Relay killed under load", .serialized)
struct RelayCrashTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: RelayProcess.binary), "build the relay first"))
    func everyLineIsStoredExactlyOnceAcrossRelayKills() async throws {
        let binary = try CrashTests.edgeBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("relay-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("auth.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let relay = try RelayProcess(extra: "console: incidents\n")
        defer { relay.kill9() }
        #expect(await relay.waitUntilReady())
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "busy-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: busy-01
            key: \(key)
            relay:
              transport: tcp
              addresses: ["127.0.0.1:\(relay.tcpPort)"]
            sources:
              - file: \(log)
            start_at: beginning
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            batch:
              max_events: 8
              max_delay_ms: 20
            journal: off
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let edge = Process()
        edge.executableURL = URL(fileURLWithPath: binary)
        edge.arguments = ["run", "--config", config, "--log-level", "error"]
        edge.standardOutput = FileHandle.nullDevice
        edge.standardError = FileHandle.nullDevice
        try edge.run()
        defer { if edge.isRunning { kill(edge.processIdentifier, SIGKILL) } }

        let total = 800
        func write(_ range: Range<Int>) throws {
            let text = range.map {
                "Nov 29 16:10:15 busy useradd[77]: new user: name=u\($0), UID=\(10000 + $0), GID=\(10000 + $0), home=/home/u\($0), shell=/bin/sh\n"
            }.joined()
            let h = try #require(FileHandle(forWritingAtPath: log))
            try h.seekToEnd()
            try h.write(contentsOf: Data(text.utf8))
            try h.close()
        }
        var written = 0
        var kills = 0
        var rng = SystemRandomNumberGenerator()
        while written < total {
            // 20 lines every 25 ms, and now and then the relay killed and started again.
            try write(written..<min(total, written + 20))
            written += 20
            try await Task.sleep(for: .milliseconds(25))
            if written % 100 == 0 && kills < 7 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...300, using: &rng)))
                relay.kill9()
                kills += 1
                try relay.start()
                #expect(await relay.waitUntilReady())
            }
        }
        func stored() throws -> [String] {
            try Store(directory: relay.directory.appendingPathComponent("data"), readOnly: true)
                .recentEvents(limit: 100_000).filter { $0.event.kind == .accountCreated }.compactMap(\.event.targetUser)
        }
        let complete = await RunningRelay.waitUntil(timeout: .seconds(60)) { Set((try? stored()) ?? []).count == total }
        #expect(await relay.stop())
        let names = try stored()
        let twice = Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        print("relay killed \(kills) times under an edge writing \(total) lines over TCP: stored \(names.count) events, \(Set(names).count) distinct, \(twice.count) twice")
        #expect(complete, "missing \(total - Set(names).count) of \(total)")
        #expect(twice.isEmpty, "stored twice: \(twice.prefix(20))")
        #expect(kills == 7)
    }
}
