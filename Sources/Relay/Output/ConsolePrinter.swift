import Foundation
import Synchronization
import Wire

/// Prints incidents as they open and close, one line each, for an operator watching the
/// console; with `events`, every event and heartbeat too.
package enum ConsolePrinter {
    package static func attach(
        to pipeline: Pipeline, events: Bool,
        // `try write(contentsOf:)`: `write(_:)` traps when stdout fails (a closed pipe, a full disk).
        write: @escaping @Sendable (String) -> Void = { try? FileHandle.standardOutput.write(contentsOf: Data(($0 + "\n").utf8)) }
    ) {
        // Log text reaches these lines: controls are shown, never obeyed by the terminal.
        pipeline.observe(incidents: { change in
            if let line = line(for: change) { write(TerminalText.safe(line)) }
        })
        if events {
            pipeline.observe(items: { item in
                for line in lines(for: item) { write(TerminalText.safe(line)) }
            })
            // Plain syslog the rules found nothing in (their events come as items).
            pipeline.intake.observePlain { message in
                guard message.events.isEmpty else { return }
                write(TerminalText.safe(line(for: message)))
            }
        }
    }

    static func line(for change: IncidentChange) -> String? {
        let i = change.incident
        // Made only for a line that is printed: most changes (an incident counting) print none.
        var time: String { SyslogTimestamp.iso8601UTC(microseconds: i.lastSeen, fractionDigits: 0) }
        switch change {
        case .opened:
            var parts = ["INCIDENT #\(i.id)", i.severity.rawValue.uppercased(), i.kind, time, i.title]
            if !i.authenticated { parts.append("[plain syslog, not authenticated]") }
            if i.count > 1 { parts.append("(\(i.count) events)") }
            return parts.joined(separator: " ")
        case .escalated(_, let from):
            return "ESCALATED #\(i.id) \(from.rawValue.uppercased()) -> \(i.severity.rawValue.uppercased()) \(i.kind) \(time) \(i.title)"
        case .closed:
            return "closed #\(i.id) \(i.kind) after \(i.count) event(s), last at \(time)"
        case .updated:
            // A growing incident is reported when it reaches a power of ten, not at every event
            // (changes come a batch at a time, and a count can grow by more than one).
            guard i.count >= 10 else { return nil }
            let reached = powerOfTen(atMost: i.count)
            guard printedPowers.withLock({ p in
                guard (p[i.id] ?? 0) < reached else { return false }
                if p.count > 10_000 { p.removeAll() }
                p[i.id] = reached
                return true
            }) else { return nil }
            return "incident #\(i.id) \(i.kind) now \(i.count) events: \(i.title)"
        }
    }

    /// The highest power of ten each counting incident was reported at.
    static let printedPowers = Mutex<[Int64: Int]>([:])

    static func powerOfTen(atMost n: Int) -> Int {
        var p = 1
        while p <= n / 10 { p *= 10 }
        return p
    }

    static func lines(for item: IntakeItem) -> [String] {
        switch item {
        case .frame(let delivery, let sender):
            let origin = "edge \(delivery.frame.edgeID) #\(delivery.frame.sequence) via \(sender)"
            var lines: [String] = []
            if delivery.acceptance.newEpoch, delivery.acceptance.replacedEpoch == nil {
                lines.append("edge \(delivery.frame.edgeID) first heard (epoch \(delivery.frame.epoch))")
            }
            switch delivery.body {
            case .events(let events):
                lines += events.map { describe($0) + "  [\(origin)]" }
            case .heartbeat(let h):
                lines.append("heartbeat \(delivery.frame.edgeID): up \(h.uptimeSeconds)s " + h.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            return lines
        case .relay(let event):
            return ["ALERT \(event.kind) [\(event.severity?.rawValue ?? "-")] \(event.raw ?? "")"]
        case .detected(let events, let sender):
            return events.map { describe($0) + "  [syslog via \(sender)]" }
        }
    }

    static func line(for plain: Intake.PlainMessage) -> String {
        guard let m = try? SyslogParser(maxMessageBytes: 1 << 16).parse(plain.bytes.prefix(1 << 16)) else {
            return "syslog \(plain.sender): \(String(decoding: plain.bytes.prefix(300), as: UTF8.self))"
        }
        let who = [m.hostname, m.appName].compactMap { $0 }.joined(separator: " ")
        return "syslog \(plain.sender) \(who): \(m.message.prefix(300))"
    }

    static func describe(_ e: Event) -> String {
        var parts = [e.time ?? "-", e.host ?? "-", e.kind.rawValue]
        if let o = e.outcome { parts.append(o.rawValue) }
        if let s = e.severity { parts.append("severity=\(s.rawValue)") }
        if let u = e.user { parts.append("user=\(u)") }
        if let t = e.targetUser { parts.append("target=\(t)") }
        if let g = e.group { parts.append("group=\(g)") }
        if let ip = e.sourceIP { parts.append("from=\(ip)" + (e.sourcePort.map { ":\($0)" } ?? "")) }
        if let r = e.rule { parts.append("rule=\(r)") }
        if let n = e.count { parts.append("count=\(n)") }
        return parts.joined(separator: " ")
    }
}
