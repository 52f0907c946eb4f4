import Foundation
import Wire

/// An alert as people read it: a headline and a markdown body saying what happened, where,
/// who, from where, when, how many times and how severe, with the evidence (the original
/// lines) last. Chinese by default, English on request.
public struct AlertMessage: Sendable, Equatable {
    public enum Language: String, Sendable, Hashable { case zh, en }

    public var title: String
    /// Markdown (DingTalk, WeCom, webhooks).
    public var text: String
    /// The same as plain lines (Feishu's rich text), without markdown.
    public var plainLines: [String] = []
    /// The incidents the message names (a digest names as many as fit).
    public var incidents: [Int64] = []

    static let severityNames: [Language: [Event.Severity: String]] = [
        .zh: [.info: "信息", .low: "低", .medium: "中", .high: "高", .critical: "严重"],
        .en: [.info: "info", .low: "low", .medium: "medium", .high: "HIGH", .critical: "CRITICAL"],
    ]

    /// One incident. `keyword` (a robot's required keyword) is put in the title and text.
    /// The text is cut to `maxBytes` by dropping evidence lines, never the headline.
    public static func incident(
        _ i: Incident, language: Language, keyword: String?, timeZone: TimeZone = .current, maxBytes: Int = 18_000, analysis: String? = nil,
        template: AlertTemplate? = nil
    ) -> AlertMessage {
        if let template { return template.render(i, language: language, keyword: keyword, timeZone: timeZone, maxBytes: maxBytes, analysis: analysis) }
        let severity = severityNames[language]![i.severity]!
        let prefix = keyword.map { "[\($0)] " } ?? ""
        let title = language == .zh ? "\(prefix)【\(severity)】\(i.title)" : "\(prefix)[\(severity)] \(i.title)"
        var facts: [(String, String?)]
        let when = period(i, timeZone)
        if language == .zh {
            facts = [("事件", i.kind), ("级别", severity), ("主机", hostList(i)), ("探针", i.edge), ("账号", i.user), ("目标账号", i.targetUser),
                     ("组", i.group), ("来源 IP", i.sourceIP), ("时间", when), ("次数", String(i.count)), ("编号", "#\(i.id)")]
        } else {
            facts = [("What", i.kind), ("Severity", severity), ("Host", hostList(i)), ("Edge", i.edge), ("User", i.user), ("Target", i.targetUser),
                     ("Group", i.group), ("Source IP", i.sourceIP), ("When", when), ("Count", String(i.count)), ("Incident", "#\(i.id)")]
        }
        var text = "### \(escape(title))\n\n" + facts.compactMap { k, v in v.map { "- **\(k)**: \(escape($0))" } }.joined(separator: "\n")
        if let analysis {
            text += (language == .zh ? "\n\n**分析**（模型生成，仅供参考）\n\n" : "\n\n**Analysis** (by the model, for guidance)\n\n")
                + escape(String(analysis.prefix(1500)))
        }
        let heading = language == .zh ? "\n\n**原始日志**\n\n" : "\n\n**Evidence**\n\n"
        var evidence = i.evidence.map { "> " + escape(String($0.prefix(600))) }
        // Shorten the evidence, never the headline and facts.
        while !evidence.isEmpty, (text + heading + evidence.joined(separator: "\n>\n")).utf8.count > maxBytes {
            evidence.removeLast()
        }
        if !evidence.isEmpty { text += heading + evidence.joined(separator: "\n>\n") }
        var plain = facts.compactMap { k, v in v.map { "\(k): \($0)" } }
        if let analysis { plain.append((language == .zh ? "分析: " : "Analysis: ") + String(analysis.prefix(1500))) }
        plain += i.evidence.prefix(evidence.count).map { String($0.prefix(600)) }
        return AlertMessage(title: title, text: text, plainLines: plain, incidents: [i.id])
    }

    /// The analysis of an incident whose alert went before the model answered: the
    /// incident's headline and number, so it reads as a follow-up, then the analysis.
    public static func followUp(_ i: Incident, analysis: String, language: Language, keyword: String?, maxBytes: Int = 18_000) -> AlertMessage {
        let prefix = keyword.map { "[\($0)] " } ?? ""
        let title = language == .zh ? "\(prefix)【分析】#\(i.id) \(i.title)" : "\(prefix)[analysis] #\(i.id) \(i.title)"
        let heading = language == .zh ? "**分析**（模型生成，仅供参考；告警已先行发送）" : "**Analysis** (by the model, for guidance; the alert went first)"
        let body = escape(String(analysis.prefix(min(1500, maxBytes / 4))))
        let text = "### \(escape(title))\n\n\(heading)\n\n\(body)"
        let plain = [(language == .zh ? "事件 #" : "Incident #") + "\(i.id)", (language == .zh ? "分析: " : "Analysis: ") + String(analysis.prefix(1500))]
        return AlertMessage(title: title, text: text, plainLines: plain, incidents: [i.id])
    }

    /// Several incidents in one message, when a robot's budget is spent (20 a minute):
    /// one line each, most severe first; nothing is left out but evidence.
    public static func digest(_ incidents: [Incident], language: Language, keyword: String?, timeZone: TimeZone = .current, maxBytes: Int = 18_000) -> AlertMessage {
        let prefix = keyword.map { "[\($0)] " } ?? ""
        // Only the incidents that fit are named, and only those count as delivered: the
        // rest stay in the outbox for the next message.
        let ordered = incidents.sorted(by: { ($0.severity, $1.id) > ($1.severity, $0.id) })
        var lines: [String] = []
        var named: [Incident] = []
        var size = 300 + prefix.utf8.count
        for i in ordered {
            let line = "- #\(i.id) [\(severityNames[language]![i.severity]!)] \(escape(i.title)) ×\(i.count), \(format(i.lastSeen, timeZone))"
            guard size + line.utf8.count + 1 < maxBytes else { break }
            size += line.utf8.count + 1
            lines.append(line)
            named.append(i)
        }
        let severity = severityNames[language]![named.map(\.severity).max() ?? .info]!
        let later = incidents.count - named.count
        var title = language == .zh ? "\(prefix)【\(severity)】\(named.count) 个安全事件汇总" : "\(prefix)[\(severity)] digest of \(named.count) incidents"
        if later > 0 { title += language == .zh ? "（另有 \(later) 个随后发送）" : " (\(later) more follow)" }
        let text = "### \(escape(title))\n\n" + lines.joined(separator: "\n") + "\n"
        let plain = named.map { i in
            "#\(i.id) [\(severityNames[language]![i.severity]!)] \(i.title) ×\(i.count), \(format(i.lastSeen, timeZone))"
        }
        return AlertMessage(title: title, text: text, plainLines: plain, incidents: named.map(\.id))
    }

    static func hostList(_ i: Incident) -> String? {
        i.hosts.count > 1 ? i.hosts.joined(separator: ", ") : i.host
    }

    /// First seen, and last seen when it differs.
    static func period(_ i: Incident, _ zone: TimeZone) -> String {
        format(i.firstSeen, zone) + (i.lastSeen != i.firstSeen ? " – " + format(i.lastSeen, zone) : "")
    }

    static func format(_ microseconds: Int64, _ zone: TimeZone) -> String {
        let seconds = Int(microseconds / 1_000_000) + zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(microseconds) / 1e6))
        let civil = SyslogTimestamp.iso8601UTC(microseconds: Int64(seconds) * 1_000_000, fractionDigits: 0)
        // 2026-11-29T16:10:15Z → 2026-11-29 16:10:15
        return civil.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }

    /// Log text is attacker-controlled: markdown that would change the message's shape
    /// (links, images, headings, mentions) is neutralised.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\", "`", "*", "_", "[", "]", "(", ")", "#", "!", "<", ">", "|": out += "\\\(c)"
            case "@": out += "@\u{200B}"  // no mention from log text
            case "\n", "\r": out += " "
            default: out.append(c)
            }
        }
        return out
    }
}

/// A channel's own message layout: `{field}` placeholders in a title and a markdown text.
/// A line whose placeholders are all empty is left out (no "User:" line without a user).
/// Values from logs are escaped as in the built-in layout; `{evidence}` is the original lines
/// as quotes, shortened to fit the robot's limit.
public struct AlertTemplate: Sendable, Hashable {
    public var title: String
    public var text: String

    public init(title: String, text: String) {
        self.title = title
        self.text = text
    }

    public static let fields: [String] = [
        "id", "kind", "severity", "title", "host", "edge", "user", "target_user", "group", "source_ip", "first_seen", "last_seen", "when",
        "count", "rule", "analysis", "evidence",
    ]

    /// The placeholders in `s` that are not fields.
    public static func unknownFields(_ s: String) -> [String] {
        placeholders(s).filter { !fields.contains($0) }
    }

    static func placeholders(_ s: String) -> [String] {
        var found: [String] = []
        var rest = Substring(s)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            found.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return found
    }

    func render(_ i: Incident, language: AlertMessage.Language, keyword: String?, timeZone: TimeZone, maxBytes: Int, analysis: String?) -> AlertMessage {
        let severity = AlertMessage.severityNames[language]![i.severity]!
        let when = AlertMessage.period(i, timeZone)
        let values: [String: String?] = [
            "id": "#\(i.id)", "kind": i.kind, "severity": severity, "title": i.title, "host": AlertMessage.hostList(i), "edge": i.edge, "user": i.user,
            "target_user": i.targetUser, "group": i.group, "source_ip": i.sourceIP, "first_seen": AlertMessage.format(i.firstSeen, timeZone),
            "last_seen": AlertMessage.format(i.lastSeen, timeZone), "when": when, "count": String(i.count), "rule": i.rule,
            "analysis": analysis.map { String($0.prefix(1500)) },
        ]
        func fill(_ s: String, evidence: [String], markdown: Bool) -> String {
            var lines: [String] = []
            for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
                let names = Self.placeholders(String(line))
                if !names.isEmpty, names.allSatisfy({ name in name == "evidence" ? evidence.isEmpty : (values[name] ?? nil)?.isEmpty ?? true }) {
                    continue
                }
                var out = String(line)
                for name in names {
                    let value: String
                    if name == "evidence" {
                        value = markdown ? evidence.map { "> " + AlertMessage.escape(String($0.prefix(600))) }.joined(separator: "\n>\n")
                            : evidence.map { String($0.prefix(600)) }.joined(separator: "\n")
                    } else {
                        let raw = (values[name] ?? nil) ?? ""
                        value = markdown ? AlertMessage.escape(raw) : raw.replacingOccurrences(of: "\n", with: " ")
                    }
                    out = out.replacingOccurrences(of: "{\(name)}", with: value)
                }
                lines.append(out)
            }
            return lines.joined(separator: "\n")
        }
        var title = fill(self.title, evidence: [], markdown: false)
        if let keyword, !title.contains(keyword) { title = "[\(keyword)] " + title }
        var evidence = i.evidence
        var text = fill(self.text, evidence: evidence, markdown: true)
        // Shorten the evidence, never the rest.
        while !evidence.isEmpty, text.utf8.count > maxBytes {
            evidence.removeLast()
            text = fill(self.text, evidence: evidence, markdown: true)
        }
        if let keyword, !text.contains(keyword) { text = "[\(keyword)]\n\n" + text }
        // Feishu's rich text has no markdown: headings and bold marks go.
        let plain = fill(self.text, evidence: evidence, markdown: false).split(separator: "\n").map { line -> String in
            var l = line.replacingOccurrences(of: "**", with: "")
            while l.hasPrefix("#") { l.removeFirst() }
            return l.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        return AlertMessage(title: title, text: text, plainLines: plain, incidents: [i.id])
    }
}
