import Foundation
import Wire

/// Turns log lines into events with a rule set.
public struct Detector: Sendable {
    public let rules: RuleSet
    /// Most events one "message repeated N times" line may stand for.
    public static let maxRepeat = 1000

    public init(rules: RuleSet = .builtin) {
        self.rules = rules
    }

    /// Detects in one log line of any supported format (BSD, RFC 3339, `<PRI>`-prefixed,
    /// RFC 5424). `parser` resolves BSD timestamps; `raw` defaults to the line.
    public func detect(line: some Collection<UInt8>, parser: SyslogParser, hostOverride: String? = nil) -> [Event] {
        guard let message = try? parser.parse(line) else { return [] }
        return detect(message, raw: String(decoding: line, as: UTF8.self), hostOverride: hostOverride)
    }

    /// Detects in a parsed syslog message (the relay's plain syslog path).
    public func detect(_ message: SyslogMessage, raw: String, hostOverride: String? = nil) -> [Event] {
        guard let app = message.appName else { return [] }
        return detect(
            program: app, pid: message.procID.flatMap { Int64($0) }, host: hostOverride ?? message.hostname,
            timeMicroseconds: message.timestamp?.microseconds, message: message.message, raw: raw)
    }

    /// Detects in a message whose fields are already known (journald, tests).
    public func detect(program rawProgram: String, pid: Int64?, host: String?, timeMicroseconds: Int64?, message: String, raw: String) -> [Event] {
        let program = Self.normalise(program: rawProgram)
        var text = Self.trimmed(message)
        var repeats = 1
        // rsyslog folds repeats: "message repeated 5 times: [ Failed password for ...]".
        if text.starts(with: Self.repeatedPrefix), let (count, inner) = Self.unfoldRepeat(text) {
            repeats = min(count, Self.maxRepeat)
            text = inner
        }
        let (specific, any) = rules.rulesFor(program: program)
        for index in specific + any {
            let rule = rules.rules[index]
            guard let captures = rule.pattern.match(text) else { continue }
            if rule.require.contains(where: { (captures[$0] ?? "").isEmpty }) { continue }
            var event = Event(
                kind: rule.kind, outcome: rule.outcome, timeMicroseconds: timeMicroseconds, host: host,
                program: rawProgram, pid: pid, rule: rule.id, severity: rule.severity, raw: raw)
            for name in Rule.settableFields {
                let value = rule.map[name].flatMap { sources in sources.lazy.compactMap { captures[$0] }.first { !$0.isEmpty } }
                    ?? captures[name].flatMap { $0.isEmpty ? nil : $0 }
                    ?? rule.set[name]
                if let value { Self.assign(name, value, to: &event) }
            }
            return Array(repeating: event, count: repeats)
        }
        return []
    }

    static let repeatedPrefix = Array("message repeated ".utf8)

    static func unfoldRepeat(_ text: [UInt8]) -> (Int, [UInt8])? {
        var i = repeatedPrefix.count
        var count = 0
        var digits = 0
        while i < text.count, text[i] >= 0x30, text[i] <= 0x39, digits < 9 {
            count = count * 10 + Int(text[i] - 0x30)
            i += 1
            digits += 1
        }
        let middle = Array(" times: [".utf8)
        guard digits > 0, text.count > i + middle.count, Array(text[i..<(i + middle.count)]) == middle, text.last == UInt8(ascii: "]") else {
            return nil
        }
        return (count, trimmed(Array(text[(i + middle.count)..<(text.count - 1)])))
    }

    static func trimmed(_ text: some Collection<UInt8>) -> [UInt8] {
        var bytes = Array(text)[...]
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 || l == 0x0A || l == 0x0D { bytes = bytes.dropLast() }
        return Array(bytes)
    }

    static func trimmed(_ text: String) -> [UInt8] { trimmed(text.utf8) }

    /// `/usr/sbin/sshd` → `sshd`.
    static func normalise(program: String) -> String {
        guard let slash = program.lastIndex(of: "/") else { return program }
        return String(program[program.index(after: slash)...])
    }

    static func assign(_ name: String, _ value: String, to e: inout Event) {
        switch name {
        case "user": e.user = value
        case "target_user": e.targetUser = value
        case "group": e.group = value
        case "source_ip": e.sourceIP = value
        case "source_port": e.sourcePort = Int64(value)
        case "method": e.method = value
        case "logon_type": e.logonType = Int64(value)
        default: break
        }
    }
}
