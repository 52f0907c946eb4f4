import Foundation
import TestSupport
import Testing
import Wire

@testable import Edge

/// Issue 10 on the edge: a full disk, a damaged state file.
@Suite("Edge hardening")
struct EdgeHardeningTests {
    /// /dev/full answers every write with ENOSPC, as a full disk does. Foundation's
    /// `FileHandle.write(_:)` traps on it: the edge died on its next batch, and again after
    /// every restart.
    @Test func aFullDiskDoesNotKillTheJournal() throws {
        let journal = EventJournal(path: "/dev/full", maxBytes: 1 << 20, keep: 1)
        journal.append(Event(kind: .login, outcome: .failure, host: "h", user: "root", raw: "x"))
        journal.flush()
        journal.append(Event(kind: .login, outcome: .failure, host: "h", user: "root", raw: "y"))
        journal.flush()
        #expect(journal.failedWrites == 2)
    }

    /// A state file that cannot be read is moved aside and reported, and the next epoch is
    /// still past every spooled frame's (an epoch used before would reuse sealing nonces).
    @Test func anUnreadableStateFileIsReportedAndTheEpochNeverGoesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-state-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
        let (state, unreadable) = EdgeState.load(directory: dir)
        #expect(unreadable && state.epoch == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.json"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix("state.json.unreadable-") })
        #expect(EdgeState.load(directory: dir).unreadable == false, "reported once, then a fresh start")

        // The clock went back a day; the spool still holds a frame of a later epoch.
        let spool = try Spool(directory: dir + "/spool", maxBytes: 1 << 20)
        let later = UInt32(Date().timeIntervalSince1970) + 1000
        let frame = Frame(kind: .events, flags: [], dictionaryID: 0, edgeID: EdgeID(rawValue: "e")!, epoch: later, sequence: 7,
                          sendTimeMilliseconds: 0, payload: [1, 2, 3])
        try spool.add(frame, checkpoints: [:], savedAtMicroseconds: 0)
        #expect(spool.newestEpoch == later)
        let yesterday = Date().addingTimeInterval(-86_400)
        #expect(EdgeState.nextEpoch(after: max(state.epoch, spool.newestEpoch ?? 0), now: yesterday, nonce: 0) == later + 1)
        // The boot nonce: two starts in the same second with the state lost differ (almost always).
        let epochs = Set((0..<64).map { _ in EdgeState.nextEpoch(after: 0, now: yesterday) })
        #expect(epochs.count > 32)
        #expect(EdgeState.nextEpoch(after: UInt32.max, nonce: 9) == UInt32.max)
    }
}

/// Issue 10, class 2 on the edge: when the spool cannot be written (a full disk, or here a
/// file where its directory was), the edge neither spins nor grows. It reads no further
/// than it can spool (lines wait in the file), tries once a second, and a crash during the
/// outage loses nothing: the positions saved never passed what was spooled. The previous
/// edge retried the failed frame in a loop without pause: a core at 100% and an error line
/// per try (hundreds of thousands a second) until the disk was freed.
@Suite("Edge spool failures", .serialized)
struct EdgeSpoolFailureTests {
    /// User and system CPU time of a process, in seconds (from /proc: Linux only).
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, utime 14, stime 15 (1-based, counted from pid).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func residentMiB(_ pid: Int32) -> Double {
        Double(RelayProcess.residentBytes(of: pid) ?? 0) / 1_048_576
    }

    @Test func aSpoolThatCannotBeWrittenHoldsTheEdgeBackAndLosesNothing() async throws {
        let binary = try CrashTests.edgeBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spool-fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("auth.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "full-01")!).hexEncoded
        let config = dir.appendingPathComponent("edge.yaml").path
        try """
            edge_id: full-01
            key: \(key)
            relay: {transport: tcp, addresses: ["127.0.0.1:\(relay.tcpPort)"]}
            sources: [{file: \(log)}]
            start_at: beginning
            state_directory: \(dir.path)/state
            heartbeat_seconds: 1
            batch: {max_events: 8, max_delay_ms: 20}
            journal: off
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let running = Running()
        defer { running.killAll() }
        let errors = dir.appendingPathComponent("stderr").path
        func start() throws -> Process {
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["run", "--config", config, "--log-level", "error"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle(forWritingAtPath: errors)
            try p.run()
            running.add(p)
            return p
        }
        func write(_ range: Range<Int>) throws {
            let h = try #require(FileHandle(forWritingAtPath: log))
            try h.seekToEnd()
            try h.write(contentsOf: Data(range.map {
                "Nov 29 16:10:15 host sshd[77]: Failed password for root from 198.51.100.7 port \(20000 + $0) ssh2\n"
            }.joined().utf8))
            try h.close()
        }
        func ports() -> [Int] { relay.edgeEvents.compactMap(\.sourcePort).map { Int($0) - 20000 } }

        let edge = try start()
        try write(0..<10)
        #expect(await relay.wait(timeout: .seconds(20)) { ports().count == 10 })

        // The spool's directory becomes a file: every frame written from now on fails.
        let spool = dir.path + "/state/spool"
        try FileManager.default.removeItem(atPath: spool)
        _ = FileManager.default.createFile(atPath: spool, contents: Data("not a directory".utf8))
        let total = 20_010
        try write(10..<total)
        try await Task.sleep(for: .seconds(1))
        let cpuBefore = Self.cpuSeconds(edge.processIdentifier)
        var resident = 0.0
        for _ in 0..<6 {
            try await Task.sleep(for: .milliseconds(500))
            resident = max(resident, Self.residentMiB(edge.processIdentifier))
        }
        let cpu = Self.cpuSeconds(edge.processIdentifier) - cpuBefore
        let complaints = (try String(contentsOfFile: errors, encoding: .utf8)).components(separatedBy: "cannot spool").count - 1
        #expect(cpu < 0.5, "the edge used \(cpu) s of CPU in 3 s waiting for its spool")
        #expect(complaints >= 1 && complaints <= 10, "\(complaints) spool errors logged in 4 s")
        #expect(resident < 64, "\(resident) MiB resident: the unit's MemoryMax is 64M")
        #expect(ports().count == 10, "nothing was sent that was not spooled")
        // Reading stopped about one read (256 KiB) past the last frame spooled: the rest of
        // the 20,000 lines wait in the file (heartbeats are sent without the spool).
        let linesRead = relay.frames.compactMap { d -> UInt64? in
            guard case .heartbeat(let h) = d.body, d.frame.edgeID.rawValue == "full-01" else { return nil }
            return h.counters["lines_read"]
        }.last ?? 0
        #expect(linesRead > 10 && linesRead < 5_000, "\(linesRead) lines read with the spool failing")
        // The relay hears of it from the heartbeat's spool_failures: an edge.loss saying so.
        #expect(relay.relayEvents.contains { $0.kind == .edgeLoss && ($0.raw ?? "").contains("could not write its spool") },
                "\(relay.relayEvents.map { $0.raw ?? "" })")

        // It dies during the outage; the disk is freed; started again, it sends every line once.
        kill(edge.processIdentifier, SIGKILL)
        edge.waitUntilExit()
        try FileManager.default.removeItem(atPath: spool)
        let again = try start()
        let complete = await relay.wait(timeout: .seconds(90)) { Set(ports()).count == total }
        again.terminate()
        again.waitUntilExit()
        await relay.stop()
        let got = ports()
        #expect(complete, "\(Set(got).count) of \(total) lines arrived")
        #expect(got.count == Set(got).count, "\(got.count - Set(got).count) lines arrived twice")
    }
}

/// journalctl's output was appended to memory as fast as it came: a first start on a journal
/// of gigabytes, or a local user flooding it with `logger`, grew the edge without bound.
/// Now the pipe's reader waits while `maxBuffered` bytes are unread (journalctl then waits
/// too), and nothing is lost.
@Suite("Journal output bounded")
struct JournalBoundTests {
    @Test func journalctlOutputIsHeldWithinABoundAndNothingIsLost() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-bound-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A stand-in for journalctl: 60,000 entries (about 24 MB) as fast as the pipe takes
        // them, then a long wait, as `--follow` does. One entry is 5 MB long.
        let script = dir.appendingPathComponent("journalctl").path
        try """
            #!/usr/bin/env python3
            import json, sys, time
            out = sys.stdout
            for i in range(60000):
                message = "Failed password for root from 198.51.100.7 port %d ssh2 " % i + "x" * 300
                if i == 30000:
                    message = "y" * (5 << 20)
                out.write(json.dumps({"__CURSOR": "c%d" % i, "MESSAGE": message, "_COMM": "sshd", "_PID": "7"}) + "\\n")
            out.flush()
            time.sleep(600)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let source = JournalSource(file: nil, cursor: nil, startAt: .beginning, journalctl: script) {}
        source.start()
        defer { source.stop() }
        // Unread, the buffer fills to its bound and stays there.
        var most = 0
        for _ in 0..<30 {
            try await Task.sleep(for: .milliseconds(100))
            most = max(most, source.bufferedBytes)
        }
        #expect(most >= JournalSource.maxBuffered / 2, "journalctl wrote \(most) bytes")
        #expect(most <= JournalSource.maxBuffered + (64 << 10), "\(most) bytes held")
        // Read as the edge reads, everything arrives, in order, once; the overlong entry is
        // skipped and counted.
        var seen: [Int] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while seen.count < 59_999, ContinuousClock.now < deadline {
            let entries = source.read()
            // Parsing is CPU-bound: leave the cooperative threads to other tests between reads.
            if entries.isEmpty { try await Task.sleep(for: .milliseconds(5)) } else { await Task.yield() }
            for e in entries {
                #expect(e.message.utf8.count < 1000)
                seen.append(Int(e.cursor.dropFirst()) ?? -1)
            }
            #expect(source.bufferedBytes <= JournalSource.maxBuffered + (64 << 10))
        }
        let expected = Array(0..<30000) + Array(30001..<60000)
        #expect(seen.count == expected.count)
        #expect(seen.elementsEqual(expected), "first difference at \(zip(seen, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
        #expect(source.malformed == 1)
    }

    /// Found in review: the buffer full with the tail of an overlong entry and the start of a
    /// long one; the tail was dropped without waking the pipe's reader, which went on
    /// waiting for room while the long entry never completed. Reading stopped for good.
    @Test func anOverlongEntryFollowedByALongOneDoesNotStopReading() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-stall-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = dir.appendingPathComponent("journalctl").path
        try """
            #!/usr/bin/env python3
            import json, sys, time
            out = sys.stdout
            sizes = {1: 4608 << 10, 2: 3788 << 10}
            for i in range(100):
                message = "y" * sizes[i] if i in sizes else "Failed password for root from 198.51.100.7 port %d ssh2" % i
                out.write(json.dumps({"__CURSOR": "c%d" % i, "MESSAGE": message, "_COMM": "sshd"}) + "\\n")
            out.flush()
            time.sleep(600)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let source = JournalSource(file: nil, cursor: nil, startAt: .beginning, journalctl: script) {}
        source.start()
        defer { source.stop() }
        var seen: [Int] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.last != 99, ContinuousClock.now < deadline {
            // Slowly, as an edge busy elsewhere: the reader fills the buffer between reads.
            try await Task.sleep(for: .milliseconds(100))
            seen += source.read().map { Int($0.cursor.dropFirst()) ?? -1 }
        }
        #expect(seen == [0] + Array(2..<100), "read \(seen.count) entries, the last \(seen.last ?? -1)")
        #expect(source.malformed == 1)
    }
}

/// Found in review: the edge started again from 0.5 s as soon as a connection was made, so a
/// relay closing connections under overload (to have dropped frames resent) was reconnected
/// to, and sent the whole resend window, twice a second by every edge.
@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test func connectionsThatEndSoonKeepBackingOff() {
        var backoff = ReconnectBackoff()
        let t0 = ContinuousClock.now
        // Refused: 0.5, 1, 2 s.
        #expect(backoff.ended(at: t0) == .milliseconds(500))
        #expect(backoff.ended(at: t0) == .seconds(1))
        #expect(backoff.ended(at: t0) == .seconds(2))
        // Connected, closed a second later: still backing off.
        backoff.connected(at: t0)
        #expect(backoff.ended(at: t0 + .seconds(1)) == .seconds(4))
        for _ in 0..<10 { _ = backoff.ended(at: t0) }
        #expect(backoff.ended(at: t0) == .seconds(30), "at most 30 s")
        // A connection that lasted: the next one is tried at once again.
        backoff.connected(at: t0)
        #expect(backoff.ended(at: t0 + .seconds(60)) == .milliseconds(500))
        #expect(backoff.ended(at: t0 + .seconds(60)) == .seconds(1))
    }
}
