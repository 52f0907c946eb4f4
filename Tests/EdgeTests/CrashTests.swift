import Foundation
import Relay
import TestSupport
import Testing
import Wire

/// Edge processes a test started, killed when it ends whatever happened, so that none
/// outlives it (and keeps the test runner's output open).
final class Running: @unchecked Sendable {
    private var processes: [Process] = []
    func add(_ p: Process) { processes.append(p) }
    func killAll() {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// The real `edge` binary, killed with SIGKILL at random moments and started again: every
/// line's event reaches the relay once — none lost, none read into a second frame.
@Suite("Edge after kill -9", .serialized)
struct CrashTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func edgeBinary() throws -> String {
        for candidate in [".build/debug/edge", ".build/x86_64-unknown-linux-gnu/debug/edge", ".build/release/edge"] {
            let path = root.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw EdgeTestError("the edge binary is not built: run `swift build --build-tests` first")
    }

    struct EdgeTestError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test(arguments: ["tcp", "udp"])
    func killNineAndRestart(transport: String) async throws {
        let binary = try Self.edgeBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("auth.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "crash-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: crash-01
            key: \(key)
            relay:
              transport: \(transport)
              addresses: ["127.0.0.1:\(transport == "tcp" ? relay.tcpPort : relay.udpPort)"]
            sources:
              - file: \(log)
            start_at: beginning
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            batch:
              max_events: 8
              max_delay_ms: 20
            spool:
              resend_window_seconds: 3
            journal: off
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let running = Running()
        defer { running.killAll() }
        func start() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["run", "--config", config, "--log-level", "error"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            running.add(p)
            return p
        }
        func write(_ text: String) throws {
            let h = try #require(FileHandle(forWritingAtPath: log))
            try h.seekToEnd()
            try h.write(contentsOf: Data(text.utf8))
            try h.close()
        }
        func line(_ n: Int) -> String {
            "Nov 29 16:10:15 host sshd[77]: Failed password for root from 198.51.100.7 port \(20000 + n) ssh2\n"
        }

        var rng = SystemRandomNumberGenerator()
        var next = 0
        func heartbeats() -> Int { relay.frames.filter { if case .heartbeat = $0.body { true } else { false } }.count }
        for round in 0..<6 {
            // Each edge is killed while it reads and sends, not while it starts: on a busy
            // runner a debug edge can take longer to start than a round lasts, and three edges
            // that never read before the rotation leave nothing that points to the rotated file.
            let before = heartbeats()
            let edge = try start()
            #expect(await relay.wait(timeout: .seconds(20)) { heartbeats() > before }, "the edge did not start")
            for _ in 0..<10 {
                // Ten lines at a time, the last one sometimes half written.
                let text = (next..<(next + 10)).map(line).joined()
                let cut = Int.random(in: text.count - 30...text.count, using: &rng)
                try write(String(text.prefix(cut)))
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...15, using: &rng)))
                try write(String(text.dropFirst(cut)))
                next += 10
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...150, using: &rng)))
            kill(edge.processIdentifier, SIGKILL)
            edge.waitUntilExit()
            if round == 2 {
                // Rotated while the edge is down.
                try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
                _ = FileManager.default.createFile(atPath: log, contents: nil)
            }
        }
        let last = try start()
        let expected = Set(0..<next)
        func ports() -> [Int] { relay.edgeEvents.compactMap(\.sourcePort).map { Int($0) - 20000 } }
        // Bounded, with room for a runner whose two cores other tests keep busy.
        let complete = await relay.wait(timeout: .seconds(90)) { Set(ports()) == expected }
        // SIGTERM is handled once the service group runs, which its first heartbeat proves.
        let seen = heartbeats()
        await relay.wait(timeout: .seconds(5)) { heartbeats() > seen }
        last.terminate()
        last.waitUntilExit()
        await relay.stop()
        let got = ports()
        #expect(complete, "missing \(expected.subtracting(got).count) of \(expected.count): \(expected.subtracting(got).sorted().prefix(20)); frames \(relay.frames.count), rejected \(relay.counter("relay_rejected_total{reason=\"stale\"}")) stale, \(relay.counter("relay_duplicates_total")) duplicates, \(relay.counter("relay_messages_total{transport=\"udp\"}")) UDP messages")
        #expect(got.count == Set(got).count, "delivered twice: \(Dictionary(grouping: got, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(20))")
        #expect(last.terminationStatus == 0, "edge did not stop cleanly on SIGTERM")
        #expect(relay.counter("relay_rejected_total{reason=\"replayed\"}") == 0)
    }
}

/// The real edge killed and left dead: the relay raises edge.silent (an attacker who kills
/// the agent does not buy silence); started again, edge.restarted and the all-clear.
@Suite("Killed edge", .serialized)
struct KilledEdgeTests {
    @Test func aKilledEdgeIsRaisedAsSilentThenAsRestarted() async throws {
        let binary = try CrashTests.edgeBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("silent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("auth.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        var policy = EdgeRegistry.Policy()
        policy.silenceMilliseconds = 3000
        let relay = try await RunningRelay.start(policy: policy, tickSeconds: 1)
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "quiet-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: quiet-01
            key: \(key)
            relay: {transport: udp, addresses: ["127.0.0.1:\(relay.udpPort)"]}
            sources: [{file: \(log)}]
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            journal: off
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let running = Running()
        defer { running.killAll() }
        func start() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["run", "--config", config, "--log-level", "error"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            running.add(p)
            return p
        }
        func kinds() -> [String] { relay.relayEvents.map { "\($0.kind.rawValue)/\($0.outcome?.rawValue ?? "-")" } }
        let edge = try start()
        #expect(await relay.wait(timeout: .seconds(10)) { relay.frames.contains { $0.frame.edgeID.rawValue == "quiet-01" } })
        kill(edge.processIdentifier, SIGKILL)
        edge.waitUntilExit()
        #expect(await relay.wait(timeout: .seconds(10)) { kinds().contains("edge.silent/-") }, "\(kinds())")
        let again = try start()
        #expect(await relay.wait(timeout: .seconds(10)) { kinds().contains("edge.restarted/-") && kinds().contains("edge.silent/success") }, "\(kinds())")
        again.terminate()
        again.waitUntilExit()
        await relay.stop()
        let incidents = relay.incidents.map(\.kind)
        #expect(incidents.contains("edge.silent") && incidents.contains("edge.restarted"), "\(incidents)")
        #expect(relay.incidents.first { $0.kind == "edge.silent" }?.severity == .high)
        #expect(relay.counter("relay_rejected_total{reason=\"replayed\"}") == 0, "the restart is not taken for a replay")
    }
}
