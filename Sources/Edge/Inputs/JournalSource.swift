import Foundation
import Platform

/// Follows the systemd journal through `journalctl --follow --output=json`, from a persisted
/// cursor, filtered to the auth and authpriv facilities (where sshd, sudo, su, login,
/// systemd-logind and the shadow utilities log). For hosts without auth.log: Debian 12
/// installs none by default.
///
/// `journalctl` runs as a child process; a thread reads its output and wakes the edge's
/// reader. If it exits, it is started again from the last cursor after a second.
///
/// An NSCondition, not a Mutex, guards the state: the pipe's reader waits on it for room
/// (back-pressure), which a Mutex cannot do.
package final class JournalSource: @unchecked Sendable {
    package struct Entry: Sendable {
        package var program: String
        package var pid: Int64?
        package var host: String?
        package var timeMicroseconds: Int64?
        package var message: String
        package var cursor: String
    }

    /// A journal file or directory instead of the system journal (tests, exported journals).
    package let file: String?
    package let journalctl: String
    private let lock = NSCondition()
    private var buffer: [UInt8] = []
    private var generation: UInt64 = 0
    /// Dropping the rest of an overlong entry, up to its end.
    private var skipping = false
    /// `buffer[..<this]` is known to hold no newline: a long entry arriving 64 KiB at a time
    /// is searched once, not again from its start at every wake-up.
    private var searchedWithoutNewline = 0
    private var cursor: String?
    #if os(Linux)
    private var process: ChildProcess?
    #endif
    private var stopped = false
    private var supervised = false
    private let startAtEnd: Bool
    private let wake: @Sendable () -> Void
    private var restartCount = 0
    private var malformedCount = 0

    /// Times journalctl was started again after it ended (or could not start).
    package var restarts: Int {
        lock.lock()
        defer { lock.unlock() }
        return restartCount
    }

    /// Lines that were not journal entries, and entries over `maxBuffered` skipped.
    package var malformed: Int {
        lock.lock()
        defer { lock.unlock() }
        return malformedCount
    }

    package init(file: String?, cursor: String?, startAt: FileTail.StartAt, journalctl: String = "/usr/bin/journalctl", wake: @escaping @Sendable () -> Void) {
        self.file = file
        self.cursor = cursor
        self.journalctl = journalctl
        startAtEnd = startAt == .end
        self.wake = wake
    }

    package var name: String { Self.name(file: file) }

    /// The source's name in the state file and heartbeats.
    package static func name(file: String?) -> String { file.map { "journald:\($0)" } ?? "journald" }

    package var state: String {
        lock.lock()
        defer { lock.unlock() }
        #if os(Linux)
        return process?.isRunning == true ? "following" : "waiting"
        #else
        return "waiting"
        #endif
    }

    /// The cursor after the last entry handed on.
    package var position: String? {
        lock.lock()
        defer { lock.unlock() }
        return cursor
    }

    /// Starts following: a thread of its own runs journalctl, and runs it again a second after
    /// it ends or fails to start, from the last cursor, until `stop()`.
    package func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, !supervised else { return }
        supervised = true
        Thread.detachNewThread { [weak self] in self?.supervise() }
    }

    private func supervise() {
        runRestartingEverySecond(on: lock, isStopped: { stopped }, restarted: { restartCount += 1 }) {
            #if os(Linux)
            if let p = launch() { p.waitUntilExit() }
            lock.lock()
            process = nil
            lock.unlock()
            #endif
        }
    }

    /// Starts journalctl from the cursor, with a reader thread on its output; nil when it
    /// cannot start (or the source is stopping).
    #if os(Linux)
    private func launch() -> ChildProcess? {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return nil }
        // Anything buffered but not yet read comes again after the cursor; a reader still
        // draining the previous process's pipe sees the generation change and stops.
        buffer = []
        skipping = false
        searchedWithoutNewline = 0
        generation &+= 1
        lock.broadcast()
        var arguments = ["--follow", "--output=json", "--no-pager", "--all", "SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10"]
        if let file { arguments.insert("--file=\(file)", at: 0) }
        if let cursor {
            arguments.append("--after-cursor=\(cursor)")
        } else if startAtEnd {
            arguments.append("--lines=0")
        }
        guard let p = ChildProcess(path: journalctl, arguments: arguments) else { return nil }
        process = p
        let generation = generation
        Thread.detachNewThread { [weak self] in
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            while let self, self.waitForRoom(generation) {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(p.output, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                self.lock.lock()
                if self.generation == generation { self.buffer.append(contentsOf: chunk[..<n]) }
                self.lock.unlock()
                self.wake()
            }
        }
        return p
    }
    #endif

    /// Blocks the pipe's reader while `maxBuffered` bytes wait to be read: journalctl then
    /// blocks on its output, and nothing is lost or held in memory past the bound (a first
    /// start on a journal of gigabytes, or a local flood with `logger`). False once this
    /// process's output is no longer wanted.
    private func waitForRoom(_ generation: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        while buffer.count >= Self.maxBuffered, self.generation == generation, !stopped { lock.wait() }
        return self.generation == generation && !stopped
    }

    /// Most bytes of journalctl's output held at once, and handed on per `read()`.
    static let maxBuffered = 4 << 20
    static let maxRead = 1 << 20

    /// Bytes waiting to be read (tests).
    var bufferedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return buffer.count
    }

    package func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        #if os(Linux)
        let p = process
        #endif
        lock.unlock()
        #if os(Linux)
        p?.terminate()
        #endif
    }

    /// Entries received since the last call, at most about `maxRead` bytes of them. An entry
    /// longer than `maxBuffered` is skipped whole and counted in `malformed`.
    package func read() -> [Entry] {
        lock.lock()
        if skipping {
            guard let lf = buffer.firstIndex(of: 0x0A) else {
                buffer.removeAll(keepingCapacity: true)
                lock.broadcast()
                lock.unlock()
                return []
            }
            buffer.removeFirst(lf + 1)
            skipping = false
            searchedWithoutNewline = 0
            // Room was made: the pipe's reader may be waiting for it (found in review: without
            // this, an overlong entry followed by a long partial one stopped reading for good).
            lock.broadcast()
        }
        guard let firstLF = buffer[min(searchedWithoutNewline, buffer.count)...].firstIndex(of: 0x0A) else {
            searchedWithoutNewline = buffer.count
            if buffer.count >= Self.maxBuffered {
                malformedCount += 1
                buffer.removeAll(keepingCapacity: true)
                searchedWithoutNewline = 0
                skipping = true
                lock.broadcast()
            }
            lock.unlock()
            return []
        }
        // Every complete entry within the first `maxRead` bytes, or the first one when it is longer.
        let lastLF = firstLF < Self.maxRead ? (buffer.prefix(Self.maxRead).lastIndex(of: 0x0A) ?? firstLF) : firstLF
        let complete = Array(buffer[...lastLF])
        buffer.removeFirst(lastLF + 1)
        searchedWithoutNewline = 0
        lock.broadcast()
        let more = buffer.contains(0x0A)
        lock.unlock()
        // Whatever is left is read on the next turn of the edge's loop.
        if more { wake() }
        var entries: [Entry] = []
        var unreadable = 0
        defer {
            if unreadable > 0 {
                lock.lock()
                malformedCount += unreadable
                lock.unlock()
            }
        }
        for line in complete.split(separator: 0x0A) where !line.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let cursor = object["__CURSOR"] as? String
            else {
                unreadable += 1
                continue
            }
            lock.lock()
            self.cursor = cursor
            lock.unlock()
            guard let message = Self.text(object["MESSAGE"]) else { continue }
            let program = Self.program(object)
            entries.append(Entry(
                program: program, pid: Self.text(object["_PID"]).flatMap { Int64($0) } ?? Self.text(object["SYSLOG_PID"]).flatMap { Int64($0) },
                host: Self.text(object["_HOSTNAME"]), timeMicroseconds: Self.text(object["__REALTIME_TIMESTAMP"]).flatMap { Int64($0) },
                message: message, cursor: cursor))
        }
        return entries
    }

    /// The program that wrote an entry, from the fields journald sets itself (`_EXE`, then
    /// `_COMM`), not from `SYSLOG_IDENTIFIER`, which the writer chooses: `logger -t sshd` is
    /// `logger`, and any local user can run it. The identifier is used only when journald
    /// recorded neither (entries imported from elsewhere), or when `_COMM` is the kernel's
    /// 15-byte cut of it.
    static func program(_ object: [String: Any]) -> String {
        let identifier = text(object["SYSLOG_IDENTIFIER"])
        if let exe = text(object["_EXE"]), let name = exe.split(separator: "/").last, !name.isEmpty {
            // A copy of logger named sshd in /tmp is not sshd: only programs installed in the
            // system's directories speak under their own name.
            let system = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/opt/"].contains { exe.hasPrefix($0) }
            return system ? String(name) : "untrusted:" + name
        }
        if let comm = text(object["_COMM"]), !comm.isEmpty {
            if comm.utf8.count == 15, let identifier, identifier.hasPrefix(comm) { return identifier }
            return comm
        }
        return identifier ?? ""
    }

    /// journalctl writes a field as a string, or as an array of byte values when it is not
    /// valid UTF-8.
    static func text(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let bytes = value as? [NSNumber] { return String(decoding: bytes.map { $0.uint8Value }, as: UTF8.self) }
        return nil
    }
}
