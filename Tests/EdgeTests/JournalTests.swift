import Foundation
import Logging
import ServiceLifecycle
import TestSupport
import Testing
import Wire

@testable import Edge

/// journald input, on journal files written by systemd-journal-remote (no journald runs in
/// CI) and read by the real journalctl.
/// A stopped source stops its journalctl. Started through Foundation's Process, the child
/// began with most signals blocked (SigBlk fffffffe3bfaea27, SIGTERM among them): a program
/// that does not clear its mask itself (Python here; dash does clear it) could not be
/// stopped by `stop()`'s SIGTERM and ran on after the source. Whether Debian's journalctl
/// clears it was not checked here (no journal runs in this container).
@Suite("journalctl stopped with the edge, holding nothing of ours")
struct JournalctlStopTests {
    @Test func stoppingTheSourceEndsJournalctlWhichStartsWithNoSignalBlocked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-stop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("journalctl").path
        let pidFile = dir.appendingPathComponent("pid").path
        try """
            #!/usr/bin/env python3
            # A stand-in for journalctl that leaves its signal mask as it found it.
            import os, time
            links = [os.readlink("/proc/self/fd/" + f) for f in os.listdir("/proc/self/fd") if os.path.exists("/proc/self/fd/" + f)]
            open("\(pidFile).fds", "w").write("\\n".join(links))
            open("\(pidFile).tmp", "w").write(str(os.getpid()))
            os.rename("\(pidFile).tmp", "\(pidFile)")
            time.sleep(600)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // A pipe of this process opened without O_CLOEXEC, as Foundation's Pipe is: the child
        // must not hold it open (its reader would never see its end).
        let pipe = Pipe()
        let pipeLink = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pipe.fileHandleForWriting.fileDescriptor)")
        let source = JournalSource(file: nil, cursor: nil, startAt: .end, journalctl: script) {}
        source.start()
        var pid: Int32?
        let deadline = ContinuousClock.now + .seconds(10)
        while pid == nil, ContinuousClock.now < deadline {
            pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if pid == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let child = try #require(pid, "journalctl did not start")
        defer { kill(child, SIGKILL) }
        let inherited = try String(contentsOfFile: pidFile + ".fds", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(pipeLink.hasPrefix("pipe:") && !inherited.contains(pipeLink), "journalctl holds \(pipeLink): \(inherited)")
        #expect(inherited.filter { $0.hasPrefix("pipe:") || $0.hasPrefix("socket:") }.count <= 1, "\(inherited)")
        let status = try String(contentsOfFile: "/proc/\(child)/status", encoding: .utf8)
        let blocked = status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }.map { $0.split(separator: "\t").last.map(String.init) ?? "" }
        #expect(blocked.map { UInt64($0, radix: 16) } == 0, "signals blocked in journalctl: \(blocked ?? "?")")
        source.stop()
        var gone = false
        let stopDeadline = ContinuousClock.now + .seconds(5)
        while !gone, ContinuousClock.now < stopDeadline {
            gone = kill(child, 0) != 0 && errno == ESRCH
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "journalctl (pid \(child)) still runs after the source stopped")
    }
}

@Suite("Journal source", .serialized)
struct JournalTests {
    static let remote = "/lib/systemd/systemd-journal-remote"
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: remote) && FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl")
    }

    /// Appends entries to `journal` in the journal export format, as a forwarding host would.
    static func write(_ entries: [(program: String, pid: Int, message: String)], to journal: String, first: Int) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        var text = ""
        for (i, e) in entries.enumerated() {
            let n = first + i
            text += """
                __CURSOR=s=0;i=\(n)
                __REALTIME_TIMESTAMP=\(now + Int64(n))
                __MONOTONIC_TIMESTAMP=\(n + 1)
                _BOOT_ID=0123456789abcdef0123456789abcdef
                _HOSTNAME=db-02
                SYSLOG_IDENTIFIER=\(e.program)
                SYSLOG_FACILITY=\(e.program == "cron" ? 9 : 10)
                _PID=\(e.pid)
                PRIORITY=6
                MESSAGE=\(e.message)


                """
        }
        let export = journal + ".export"
        try text.write(toFile: export, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: remote)
        p.arguments = ["--output=\(journal)", export]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// The program is what journald recorded, not what the writer claimed: `logger -t sshd`
    /// (any local user can run it) is logger, so sshd's rules do not apply to its text.
    @Test func theProgramComesFromJournaldsOwnFields() {
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd", "_COMM": "logger", "_EXE": "/usr/bin/logger"]) == "logger")
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd", "_COMM": "logger"]) == "logger")
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd", "_COMM": "sshd", "_EXE": "/usr/sbin/sshd"]) == "sshd")
        // A copy of logger named sshd, run from /tmp, is not sshd.
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd", "_COMM": "sshd", "_EXE": "/tmp/sshd"]) == "untrusted:sshd")
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd-session", "_EXE": "/usr/lib/openssh/sshd-session"]) == "sshd-session")
        // The kernel cuts _COMM at 15 bytes: a longer identifier that starts with it is taken.
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "systemd-logind-x", "_COMM": "systemd-logind-"]) == "systemd-logind-x")
        // Imported entries without journald's fields keep their identifier.
        #expect(JournalSource.program(["SYSLOG_IDENTIFIER": "sshd"]) == "sshd")
        #expect(JournalSource.program([:]) == "")
    }

    static func failed(_ n: Int) -> (String, Int, String) {
        ("sshd", 500 + n, "Failed password for invalid user u\(n) from 192.0.2.44 port \(30000 + n) ssh2")
    }

    @Test(.enabled(if: available, "systemd-journal-remote is not installed (apt-get install systemd-journal-remote): journald input untested"))
    func followsAJournalFileAndResumesFromItsCursor() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let journal = dir.appendingPathComponent("remote.journal").path
        try Self.write((0..<3).map(Self.failed) + [("cron", 9, "session opened for user root")], to: journal, first: 1)
        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: EdgeID(rawValue: "db-02")!).hexEncoded
        let yaml = """
            edge_id: db-02
            key: \(key)
            relay: {transport: udp, addresses: ["127.0.0.1:\(relay.udpPort)"]}
            sources:
              - journald: {file: \(journal)}
            start_at: beginning
            state_directory: \(dir.path)/state
            batch: {max_events: 8, max_delay_ms: 20}
            journal: off
            """
        var logger = Logger(label: "journal-test")
        logger.logLevel = .warning
        func run(_ body: () async throws -> Void) async throws {
            let app = try EdgeApp(configuration: try EdgeConfiguration.parse(yaml, origin: "test"), logger: logger)
            let group = ServiceGroup(services: [app.readerService, app.sender], logger: logger)
            let task = Task { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await task.value
        }
        func ports() -> [Int64] { relay.edgeEvents.compactMap(\.sourcePort).map { $0 - 30000 } }
        try await run {
            await relay.wait(timeout: .seconds(10)) { ports().count == 3 }
            try Self.write((3..<6).map(Self.failed), to: journal, first: 10)
            await relay.wait(timeout: .seconds(10)) { ports().count == 6 }
        }
        try Self.write((6..<9).map(Self.failed), to: journal, first: 20)
        // Started again: from the cursor, so only what is new.
        try await run {
            await relay.wait(timeout: .seconds(10)) { ports().count >= 9 }
            try await Task.sleep(for: .milliseconds(300))
        }
        await relay.stop()
        #expect(ports() == Array(0..<9))
        let first = try #require(relay.edgeEvents.first)
        #expect(first.host == "db-02" && first.program == "sshd" && first.pid == 500 && first.user == "u0" && first.method == "password")
        #expect(first.timeMicroseconds != nil)
    }
}
