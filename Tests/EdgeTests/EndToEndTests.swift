import Foundation
import Relay
import TestSupport
import Testing
import Wire

/// The whole path with real processes and sockets: a line appended to a log file, the real
/// edge binary (default batching) following it, UDP to the relay, an incident, the DingTalk
/// robot. Prints each line's latency (append -> robot); the product's bar is one second.
/// Four lines: the robot's pacing lets four alerts go at once, then one every 4 s.
@Suite("Edge to DingTalk", .serialized)
struct EndToEndTests {
    @Test func anAccountCreatedOnAHostReachesTheRobot() async throws {
        let binary = try CrashTests.edgeBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("auth.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let robot = try await FakeDingTalk()
        let relay = try await RunningRelay.start { c in
            var channel = ChannelSettings(name: "oncall", kind: .dingtalk, webhook: .inline(robot.webhook))
            channel.secret = robot.secret.map { .inline($0) }
            channel.keyword = "告警"
            channel.minimumSeverity = .info
            c.channels = [channel]
        }
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "e2e-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: e2e-01
            key: \(key)
            relay:
              transport: udp
              addresses: ["127.0.0.1:\(relay.udpPort)"]
            sources:
              - file: \(log)
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            journal: off
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let edge = Process()
        edge.executableURL = URL(fileURLWithPath: binary)
        edge.arguments = ["run", "--config", config, "--log-level", "error"]
        edge.standardOutput = FileHandle.nullDevice
        edge.standardError = FileHandle.nullDevice
        try edge.run()
        defer { if edge.isRunning { kill(edge.processIdentifier, SIGKILL) } }
        // Following (start_at: end) once the edge's first heartbeat is in.
        let heard = await relay.wait(timeout: .seconds(10)) { relay.frames.contains { if case .heartbeat = $0.body { true } else { false } } }
        try #require(heard, "no heartbeat from the edge")

        var latencies: [Duration] = []
        for n in 1...4 {
            let appended = ContinuousClock.now
            let h = try #require(FileHandle(forWritingAtPath: log))
            try h.seekToEnd()
            try h.write(contentsOf: Data(
                "Nov 29 16:10:1\(n) db-0\(n) useradd[2377\(n)]: new user: name=mallory\(n), UID=100\(n), GID=100\(n), home=/home/mallory\(n), shell=/bin/bash, from=/dev/pts/0\n".utf8))
            try h.close()
            let arrived = await relay.wait(timeout: .seconds(10)) { robot.accepted.count == n }
            try #require(arrived, "line \(n) never reached the robot")
            latencies.append(robot.accepted[n - 1].time - appended)
            try await Task.sleep(for: .milliseconds(300))
        }
        edge.terminate()
        edge.waitUntilExit()
        await relay.stop()
        await robot.stop()
        let texts = robot.accepted.map(\.text)
        #expect((1...4).allSatisfy { n in texts[n - 1].contains("mallory\(n)") && texts[n - 1].contains("db-0\(n)") }, "\(texts)")
        #expect(robot.refusals.isEmpty)
        let sorted = latencies.sorted()
        print("edge to DingTalk: latencies \(latencies.map { "\($0 / .milliseconds(1)) ms" }), median \(sorted[1] / .milliseconds(1)) ms")
        // A functional bound for a debug build among parallel tests; the figure is what counts.
        #expect(sorted.last! < .seconds(3), "\(latencies)")
    }
}
