import Detection
import Foundation
import TestSupport
import Testing
import WindowsEvents
import Wire

/// The real edge following an EVTX file as it grows the ways Windows grows it (records
/// appended to the last chunk, new chunks), killed with SIGKILL between steps, the file then
/// replaced by another log whose numbers start again: every record's event reaches the relay
/// once.
@Suite("Edge following an EVTX file", .serialized)
struct EvtxFollowTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx/omerbenamram/samples").standardizedFileURL

    /// The events the Windows rules make from `file`'s records, by their `raw` (which names
    /// the record: `record=N`, and its values). Not by host: the relay ties an edge to the
    /// one host it speaks for, and these sample logs name several computers.
    static func expected(_ bytes: [UInt8]) throws -> [String] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("expected-\(UUID().uuidString).evtx")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        var detector = WindowsDetector()
        var keys: [String] = []
        try EvtxFile(path: url.path).forEachEvent { record in
            if let event = detector.detect(record), let raw = event.raw { keys.append(raw) }
        }
        return keys
    }

    static func key(_ e: Event) -> String? { e.raw }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: samples.path), "../shared/testdata/evtx is absent"))
    func growingRotatedAndReplacedWithKills() async throws {
        let binary = try CrashTests.edgeBinary()
        let original = [UInt8](try Data(contentsOf: Self.samples.appendingPathComponent("security.evtx")))
        let header = Array(original[0..<EvtxFile.fileHeaderSize])
        func chunk(_ i: Int) -> [UInt8] {
            Array(original[(EvtxFile.fileHeaderSize + i * EvtxFile.chunkSize)..<(EvtxFile.fileHeaderSize + (i + 1) * EvtxFile.chunkSize)])
        }
        // The first chunk as it was when only its first records were written: the rest zero.
        var partial = chunk(0)
        var cut = 512
        for _ in 0..<40 { cut += Int(partial[cut + 4]) | Int(partial[cut + 5]) << 8 | Int(partial[cut + 6]) << 16 }
        for i in cut..<partial.count { partial[i] = 0 }
        let chunks = 4
        let grown = header + (0..<chunks).flatMap(chunk)
        let replacement = [UInt8](try Data(contentsOf: Self.samples.appendingPathComponent("new-user-security.evtx")))
        let expected = try Self.expected(grown) + Self.expected(replacement)
        #expect(Set(expected).count == expected.count)
        #expect(expected.count > 40, "enough events to mean something: \(expected.count)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evtx-follow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("Security.evtx").path
        try Data(header + partial).write(to: URL(fileURLWithPath: log))

        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "win-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: win-01
            key: \(key)
            relay:
              transport: tcp
              addresses: ["127.0.0.1:\(relay.tcpPort)"]
            sources:
              - evtx: \(log)
            start_at: beginning
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            batch:
              max_events: 8
              max_delay_ms: 20
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
        func got() -> [String] { relay.edgeEvents.compactMap(Self.key) }
        func killNine(_ p: Process) {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }

        // 1. The first records of the first chunk.
        var edge = try start()
        let firstPart = try Self.expected(header + partial)
        #expect(await relay.wait(timeout: .seconds(60)) { Set(got()).isSuperset(of: firstPart) }, "first part: \(got().count) of \(firstPart.count)")
        killNine(edge)
        // 2. The rest of the first chunk written in place (records appended to the last chunk),
        //    while the edge is down; then new chunks one by one, with a kill in the middle.
        let h = try #require(FileHandle(forUpdatingAtPath: log))
        try h.seek(toOffset: UInt64(EvtxFile.fileHeaderSize))
        try h.write(contentsOf: Data(chunk(0)))
        try h.close()
        edge = try start()
        for i in 1..<chunks {
            let a = try #require(FileHandle(forWritingAtPath: log))
            try a.seekToEnd()
            try a.write(contentsOf: Data(chunk(i)))
            try a.close()
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
            if i == 2 {
                killNine(edge)
                edge = try start()
            }
        }
        let grownKeys = try Self.expected(grown)
        #expect(await relay.wait(timeout: .seconds(60)) { Set(got()).isSuperset(of: grownKeys) },
                "grown: \(Set(got()).intersection(grownKeys).count) of \(grownKeys.count); missing \(Set(grownKeys).subtracting(got()).sorted().prefix(3)); got \(got().count) events")
        killNine(edge)
        // 3. The file replaced by a new log (numbers start again at 1: a cleared log).
        let replaced = dir.appendingPathComponent("Security.evtx.new")
        try Data(replacement).write(to: replaced)
        #expect(rename(replaced.path, log) == 0)
        edge = try start()
        let complete = await relay.wait(timeout: .seconds(60)) { Set(got()) == Set(expected) }
        let all = got()
        #expect(complete, "missing \(Set(expected).subtracting(all).sorted().prefix(3)) of \(expected.count)")
        #expect(all.count == Set(all).count, "twice: \(Dictionary(grouping: all, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(3))")
        // The account created and made administrator in the replacement log is named in both.
        #expect(relay.edgeEvents.contains { $0.kind == .groupMemberAdded && $0.targetUser == "IEUser" && $0.group == "Administrators" })
        edge.terminate()
        edge.waitUntilExit()
        await relay.stop()
    }
}
