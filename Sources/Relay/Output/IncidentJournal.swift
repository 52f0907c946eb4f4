import Foundation
import Plumbing
import Wire

extension Incident {
    /// One JSON object in a fixed member order: `id`, `kind`, `severity`, `count`,
    /// `source_ip`, `user`, `host`, `first_seen`, `last_seen`, `delivered`, then the rest.
    /// Absent fields are omitted. Times are ISO 8601 UTC.
    package func jsonObject(extra: [(String, String)] = []) -> String {
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
/// opens, is escalated and closes (with its final count), each with a `change` member.
/// Rotated by size (`JSONLinesFile`); a line a full disk refused is counted. The journal is a
/// copy of the store.
package final class IncidentJournal: Sendable {
    let file: JSONLinesFile

    package var path: String { file.path }

    package init(path: String, maxBytes: Int = 16 << 20, keep: Int = 3) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        file = JSONLinesFile(path: path, maxBytes: maxBytes, keep: keep, permissions: 0o600)
    }

    package func record(_ change: IncidentChange) {
        let name: String
        switch change {
        case .opened: name = "opened"
        case .escalated: name = "escalated"
        case .closed: name = "closed"
        case .updated: return
        }
        file.write(Array((change.incident.jsonObject(extra: [("change", name)]) + "\n").utf8))
    }

    /// Lines that could not be written (disk full, I/O error) since the start.
    package var failedWrites: Int { file.failedWrites }

    package func close() { file.close() }
}
