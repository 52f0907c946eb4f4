import Synchronization
import Foundation
import Wire

extension Incident {
    /// One JSON object in a fixed member order: `id`, `kind`, `severity`, `count`,
    /// `source_ip`, `user`, `host`, `first_seen`, `last_seen`, `delivered`, then the rest.
    /// Absent fields are omitted. Times are ISO 8601 UTC.
    public func jsonObject(extra: [(String, String)] = []) -> String {
        var members: [(String, String)] = []
        func add(_ name: String, _ value: String?) {
            if let value { members.append((name, Event.quoted(value))) }
        }
        members.append(("id", String(id)))
        add("kind", kind)
        add("severity", severity.rawValue)
        members.append(("count", String(count)))
        add("source_ip", sourceIP)
        add("user", user)
        add("host", host)
        add("first_seen", SyslogTimestamp.iso8601UTC(microseconds: firstSeen, fractionDigits: 6))
        add("last_seen", SyslogTimestamp.iso8601UTC(microseconds: lastSeen, fractionDigits: 6))
        members.append(("delivered", delivered ? "true" : "false"))
        members.append(("authenticated", authenticated ? "true" : "false"))
        add("status", status.rawValue)
        add("rule", rule)
        add("title", title)
        add("target_user", targetUser)
        add("group", group)
        add("edge", edge)
        if hosts.count > 1 { members.append(("hosts", "[" + hosts.map(Event.quoted).joined(separator: ", ") + "]")) }
        members.append(("evidence", "[" + evidence.map(Event.quoted).joined(separator: ", ") + "]"))
        for (name, value) in extra { members.append((name, Event.quoted(value))) }
        return "{" + members.map { "\(Event.quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// The incidents as JSON lines, in `<data>/incidents.jsonl`: one line when an incident
/// opens and one when it closes (with its final count), each with a `change` member.
/// Rotated by size: the file is renamed to `.1` (older ones shift up to `keep`).
public final class IncidentJournal: Sendable {
    public let path: String
    let maxBytes: Int
    let keep: Int

    private struct State {
        var handle: FileHandle?
        var size: Int
        var failedWrites = 0
    }

    private let state: Mutex<State>

    public init(path: String, maxBytes: Int = 16 << 20, keep: Int = 3) throws {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) }
        let handle = FileHandle(forWritingAtPath: path)
        state = Mutex(State(handle: handle, size: Int((try? handle?.seekToEnd()) ?? 0)))
    }

    public func record(_ change: IncidentChange) {
        let name: String
        switch change {
        case .opened: name = "opened"
        case .escalated: name = "escalated"
        case .closed: name = "closed"
        case .updated: return
        }
        let line = Data((change.incident.jsonObject(extra: [("change", name)]) + "\n").utf8)
        state.withLock { s in
            if s.size + line.count > maxBytes { rotate(&s) }
            do {
                // `write(_:)` traps on an error (a full disk killed the relay, again after every
                // restart); the journal is a copy of the store, so a line it misses is counted.
                try s.handle?.write(contentsOf: line)
                s.size += line.count
            } catch {
                s.failedWrites += 1
            }
        }
    }

    /// Lines that could not be written (disk full, I/O error) since the start.
    public var failedWrites: Int { state.withLock { $0.failedWrites } }

    private func rotate(_ s: inout State) {
        try? s.handle?.close()
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(keep)")
        if keep > 1 {
            for n in stride(from: keep - 1, through: 1, by: -1) {
                try? fm.moveItem(atPath: "\(path).\(n)", toPath: "\(path).\(n + 1)")
            }
        }
        try? fm.moveItem(atPath: path, toPath: "\(path).1")
        _ = fm.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        s.handle = FileHandle(forWritingAtPath: path)
        s.size = 0
    }

    public func close() {
        state.withLock { s in
            try? s.handle?.synchronize()
            try? s.handle?.close()
            s.handle = nil
        }
    }
}
