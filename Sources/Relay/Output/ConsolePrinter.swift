import Foundation
import ServiceLifecycle
import Wire

/// Prints what the intake delivers, one line each, for an operator watching the console.
public struct ConsolePrinter: Service {
    let items: AsyncStream<IntakeItem>
    let write: @Sendable (String) -> Void

    public init(items: AsyncStream<IntakeItem>, write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) {
        self.items = items
        self.write = write
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await item in items {
                for line in Self.lines(for: item) { write(line) }
            }
        }
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
        case .syslog(let m, let events, let sender):
            guard events.isEmpty else { return events.map { describe($0) + "  [syslog via \(sender)]" } }
            let who = [m.hostname, m.appName].compactMap { $0 }.joined(separator: " ")
            return ["syslog \(sender) \(who): \(m.message.prefix(300))"]
        }
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
        return parts.joined(separator: " ")
    }
}
