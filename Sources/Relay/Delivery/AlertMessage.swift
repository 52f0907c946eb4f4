import Foundation
import Plumbing
import Wire

/// An alert as people read it: a headline and a markdown body saying what happened, where,
/// who, from where, when, how many times and how severe, with the evidence (the original
/// lines) last. Chinese by default, English on request.
package struct AlertMessage: Sendable, Equatable {
    package enum Language: String, Sendable, Hashable { case zh, en }

    package var title: String
    /// Markdown (DingTalk, WeCom, webhooks).
    package var text: String
    /// The same as plain lines (Feishu's rich text), without markdown.
    package var plainLines: [String] = []
    /// The incidents the message names (a digest names as many as fit).
    package var incidents: [Int64] = []

    static let severityNames: [Language: [Event.Severity: String]] = [
        .zh: [.info: "信息", .low: "低", .medium: "中", .high: "高", .critical: "严重"],
        .en: [.info: "info", .low: "low", .medium: "medium", .high: "HIGH", .critical: "CRITICAL"],
    ]

    /// Most UTF-8 bytes of one fact (a user, a host, a title) before escaping; a fact from
    /// a log is the attacker's to choose and must not crowd out the rest.
    static let factBytes = 256
    /// Most UTF-8 bytes of one evidence line, and of the analysis, before escaping.
    static let evidenceBytes = 600
    static let analysisBytes = 4500

    /// One incident. `keyword` (a robot's required keyword) is put in the title and text.
    /// The text always fits `maxBytes`: evidence lines go first, then the analysis, then
    /// facts are cut shorter; what is left always names the incident.
    package static func incident(
        _ i: Incident, language: Language, keyword: String?, timeZone: TimeZone = .current, maxBytes: Int = 18_000, analysis: String? = nil,
        template: AlertTemplate? = nil
    ) -> AlertMessage {
        if let template {
            let message = template.render(i, language: language, keyword: keyword, timeZone: timeZone, maxBytes: maxBytes, analysis: analysis)
            if message.text.utf8.count <= maxBytes { return message }
            // The operator's layout cannot fit even without evidence: the built-in one can.
        }
        let severity = severityNames[language]![i.severity]!
        let prefix = keyword.map { "[\($0)] " } ?? ""
        let when = period(i, timeZone)
        for (limit, withAnalysis) in [(factBytes, true), (factBytes, false), (64, false), (16, false)] {
            let title = language == .zh ? "\(prefix)【\(severity)】\(clip(i.title, limit))" : "\(prefix)[\(severity)] \(clip(i.title, limit))"
            var facts: [(String, String?)]
            let hosts = hostList(i).map { clip($0, limit * 2) }
            if language == .zh {
                facts = [("事件", i.kind), ("级别", severity), ("主机", hosts), ("探针", i.edge), ("账号", i.user), ("目标账号", i.targetUser),
                         ("组", i.group), ("来源 IP", i.sourceIP), ("时间", when), ("次数", String(i.count)), ("证据", provenance(i, language)),
                         ("编号", "#\(i.id)")]
            } else {
                facts = [("What", i.kind), ("Severity", severity), ("Host", hosts), ("Edge", i.edge), ("User", i.user), ("Target", i.targetUser),
                         ("Group", i.group), ("Source IP", i.sourceIP), ("When", when), ("Count", String(i.count)),
                         ("Evidence", provenance(i, language)), ("Incident", "#\(i.id)")]
            }
            facts = facts.map { ($0.0, $0.1.map { clip($0, limit) }) }
            var text = "### \(escape(title))\n\n" + facts.compactMap { k, v in v.map { "- **\(k)**: \(escape($0))" } }.joined(separator: "\n")
            let analysis = withAnalysis ? analysis.map { clip($0, analysisBytes) } : nil
            if let analysis {
                text += (language == .zh ? "\n\n**分析**（模型生成，仅供参考）\n\n" : "\n\n**Analysis** (by the model, for guidance)\n\n")
                    + escape(analysis)
            }
            guard text.utf8.count <= maxBytes else { continue }
            // Evidence last, as much as fits.
            let heading = language == .zh ? "\n\n**原始日志**\n\n" : "\n\n**Evidence**\n\n"
            var evidence: [String] = []
            var size = text.utf8.count + heading.utf8.count
            for line in i.evidence {
                let quoted = "> " + escape(clip(line, evidenceBytes))
                guard size + quoted.utf8.count + 3 <= maxBytes else { break }
                size += quoted.utf8.count + 3
                evidence.append(quoted)
            }
            if !evidence.isEmpty { text += heading + evidence.joined(separator: "\n>\n") }
            var plain = facts.compactMap { k, v in v.map { "\(k): \(plainText($0))" } }
            if let analysis { plain.append((language == .zh ? "分析: " : "Analysis: ") + plainText(analysis)) }
            plain += i.evidence.prefix(evidence.count).map { plainText(clip($0, evidenceBytes)) }
            return AlertMessage(title: plainText(title), text: text, plainLines: plain, incidents: [i.id])
        }
        return minimal(i, language: language, keyword: keyword, maxBytes: maxBytes)
    }

    /// The least an alert says: severity, kind, number. Used when nothing else fits the
    /// robot's limit (a formatting fault, never a reason to hold an alert back).
    package static func minimal(_ i: Incident, language: Language, keyword: String?, maxBytes: Int) -> AlertMessage {
        let severity = severityNames[language]![i.severity]!
        let prefix = keyword.map { "[\(clip($0, 64))] " } ?? ""
        let title = "\(prefix)[\(severity)] #\(i.id) \(clip(i.kind, 32))"
        let text = "### \(escape(title))\n\n" + (language == .zh ? "详情见 relay alerts" : "details: relay alerts")
        return AlertMessage(title: plainText(title), text: String(decoding: text.utf8.prefix(max(0, maxBytes)), as: UTF8.self),
                            plainLines: [plainText(title)], incidents: [i.id])
    }

    /// The analysis of an incident whose alert went before the model answered: the
    /// incident's headline and number, so it reads as a follow-up, then the analysis.
    package static func followUp(_ i: Incident, analysis: String, language: Language, keyword: String?, maxBytes: Int = 18_000) -> AlertMessage {
        let prefix = keyword.map { "[\($0)] " } ?? ""
        let title = language == .zh ? "\(prefix)【分析】#\(i.id) \(clip(i.title, factBytes))" : "\(prefix)[analysis] #\(i.id) \(clip(i.title, factBytes))"
        let heading = language == .zh ? "**分析**（模型生成，仅供参考；告警已先行发送）" : "**Analysis** (by the model, for guidance; the alert went first)"
        // Defanging and escaping make at most seven bytes of one ("." after "://" becomes
        // "\\[.\\]"): a seventh of what is left always fits.
        let room = max(0, maxBytes - escape(title).utf8.count - heading.utf8.count - 16) / 7
        let body = escape(clip(analysis, min(analysisBytes, room)))
        let text = "### \(escape(title))\n\n\(heading)\n\n\(body)"
        guard text.utf8.count <= maxBytes else { return minimal(i, language: language, keyword: keyword, maxBytes: maxBytes) }
        let plain = [(language == .zh ? "事件 #" : "Incident #") + "\(i.id)", (language == .zh ? "分析: " : "Analysis: ") + plainText(clip(analysis, analysisBytes))]
        return AlertMessage(title: plainText(title), text: text, plainLines: plain, incidents: [i.id])
    }

    /// Several incidents in one message, when a robot's budget is spent (20 a minute):
    /// one line each, most severe first; nothing is left out but evidence. It always names
    /// at least the first incident (with its title cut short if need be).
    package static func digest(_ incidents: [Incident], language: Language, keyword: String?, timeZone: TimeZone = .current, maxBytes: Int = 18_000) -> AlertMessage {
        let prefix = keyword.map { "[\($0)] " } ?? ""
        // Only the incidents that fit are named, and only those count as delivered: the
        // rest stay in the outbox for the next message.
        let ordered = incidents.sorted(by: { ($0.severity, $1.id) > ($1.severity, $0.id) })
        var lines: [String] = []
        var plain: [String] = []
        var named: [Incident] = []
        var size = 300 + escape(prefix).utf8.count
        for i in ordered {
            var line = ""
            for limit in [factBytes, 32, 0] {
                line = "- #\(i.id) [\(severityNames[language]![i.severity]!)] \(escape(clip(i.title, limit))) ×\(i.count), \(format(i.lastSeen, timeZone))"
                    + (i.authenticated ? "" : (language == .zh ? "（未认证 syslog）" : " (plain syslog)"))
                if size + line.utf8.count + 1 < maxBytes || !named.isEmpty { break }
            }
            guard size + line.utf8.count + 1 < maxBytes else { break }
            size += line.utf8.count + 1
            lines.append(line)
            plain.append("#\(i.id) [\(severityNames[language]![i.severity]!)] \(plainText(clip(i.title, factBytes))) ×\(i.count), \(format(i.lastSeen, timeZone))")
            named.append(i)
        }
        if named.isEmpty, let first = ordered.first {
            // Not even one line fits a limit this small: the least message for the first.
            return minimal(first, language: language, keyword: keyword, maxBytes: maxBytes)
        }
        let severity = severityNames[language]![named.map(\.severity).max() ?? .info]!
        let later = incidents.count - named.count
        var title = language == .zh ? "\(prefix)【\(severity)】\(named.count) 个安全事件汇总" : "\(prefix)[\(severity)] digest of \(named.count) incidents"
        if later > 0 { title += language == .zh ? "（另有 \(later) 个随后发送）" : " (\(later) more follow)" }
        let text = "### \(escape(title))\n\n" + lines.joined(separator: "\n") + "\n"
        return AlertMessage(title: plainText(title), text: text, plainLines: plain, incidents: named.map(\.id))
    }

    /// Whether the evidence is authenticated: plain syslog is evidence, not proof (anyone
    /// on the network can send it, under any host name).
    static func provenance(_ i: Incident, _ language: Language) -> String {
        if i.kind.hasPrefix("edge.") || i.kind.hasPrefix("relay.") {
            return language == .zh ? "中继自身观察到" : "observed by the relay itself"
        }
        return switch (i.authenticated, language) {
        case (true, .zh): "已认证（探针签名）"
        case (true, .en): "authenticated (signed by the edge)"
        case (false, .zh): "普通 syslog，未认证（可能伪造）"
        case (false, .en): "plain syslog, not authenticated (may be forged)"
        }
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

    /// At most `bytes` bytes of `s` in UTF-8, cut at a scalar (a grapheme of a thousand
    /// combining marks is cut too), with "…" when something was cut.
    static func clip(_ s: String, _ bytes: Int) -> String {
        guard s.utf8.count > bytes else { return s }
        guard bytes > 3 else { return "…" }
        var out = String.UnicodeScalarView()
        var size = 0
        for scalar in s.unicodeScalars {
            let n = UTF8.width(scalar)
            guard size + n <= bytes - 3 else { break }
            size += n
            out.append(scalar)
        }
        return String(out) + "…"
    }

    /// Whether `scalar` must not reach a chat as it is: line and paragraph separators,
    /// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        TerminalText.needsEscape(scalar) || scalar.value == 0xFEFF
    }

    /// Log text without markdown, for Feishu's rich text and titles: every control and line
    /// separator becomes a space, URLs are defanged.
    static func plainText(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in defang(s).unicodeScalars {
            out.append(isControl(scalar) ? " " : scalar)
            if scalar == "@" { out.append("\u{200B}") }  // no mention from log text
        }
        return String(out)
    }

    /// Log text is attacker-controlled: markdown that would change the message's shape
    /// (links, images, headings, mentions, new lines) is neutralised, scalar by scalar
    /// ("\r\n" is one Swift Character, so characters are not enough), and URLs are
    /// defanged so nothing in an alert is a live link.
    static func escape(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in defang(s).unicodeScalars {
            switch scalar {
            case "\\", "`", "*", "_", "[", "]", "(", ")", "#", "!", "<", ">", "|", "~", "$":
                out.append("\\")
                out.append(scalar)
            case "@":
                out.append(scalar)
                out.append("\u{200B}")  // no mention from log text
            default:
                out.append(isControl(scalar) ? " " : scalar)
            }
        }
        return String(out)
    }

    /// `http://evil.example/x` becomes `hxxp[://]evil[.]example/x`; `www.` becomes `www[.]`.
    /// Linear in the text.
    static func defang(_ s: String) -> String {
        let u = Array(s.unicodeScalars)
        guard u.count >= 3 else { return s }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar { c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c }
        var out = String.UnicodeScalarView()
        var inHost = false
        var i = 0
        while i < u.count {
            let c = u[i]
            if i + 2 < u.count, c == ":", u[i + 1] == "/", u[i + 2] == "/" {
                out.append(contentsOf: "[://]".unicodeScalars)
                inHost = true
                i += 3
                continue
            }
            if lower(c) == "t", i + 4 < u.count, lower(u[i + 1]) == "t", lower(u[i + 2]) == "p",
                (u[i + 3] == ":" || (lower(u[i + 3]) == "s" && u[i + 4] == ":")), i > 0, lower(u[i - 1]) == "h"
            {
                out.append(contentsOf: "xx".unicodeScalars)
                i += 2
                continue
            }
            if c == ".", inHost || (i >= 3 && lower(u[i - 1]) == "w" && lower(u[i - 2]) == "w" && lower(u[i - 3]) == "w") {
                out.append(contentsOf: "[.]".unicodeScalars)
                i += 1
                continue
            }
            if c == " " || c == "/" || isControl(c) { inHost = false }
            out.append(c)
            i += 1
        }
        return String(out)
    }
}

/// A channel's own message layout: `{field}` placeholders in a title and a markdown text.
/// A line whose placeholders are all empty is left out (no "User:" line without a user).
/// Values from logs are escaped as in the built-in layout; `{evidence}` is the original lines
/// as quotes, shortened to fit the robot's limit.
package struct AlertTemplate: Sendable, Hashable {
    package var title: String
    package var text: String

    package init(title: String, text: String) {
        self.title = title
        self.text = text
    }

    package static let fields: [String] = [
        "id", "kind", "severity", "title", "host", "edge", "user", "target_user", "group", "source_ip", "first_seen", "last_seen", "when",
        "count", "rule", "analysis", "evidence", "provenance",
    ]

    /// The placeholders in `s` that are not fields.
    package static func unknownFields(_ s: String) -> [String] {
        placeholders(s).filter { !fields.contains($0) }
    }

    static func placeholders(_ s: String) -> [String] { FieldTemplate.placeholders(s) }

    func render(_ i: Incident, language: AlertMessage.Language, keyword: String?, timeZone: TimeZone, maxBytes: Int, analysis: String?) -> AlertMessage {
        let severity = AlertMessage.severityNames[language]![i.severity]!
        let when = AlertMessage.period(i, timeZone)
        let values: [String: String?] = [
            "id": "#\(i.id)", "kind": i.kind, "severity": severity, "title": i.title, "host": AlertMessage.hostList(i), "edge": i.edge, "user": i.user,
            "target_user": i.targetUser, "group": i.group, "source_ip": i.sourceIP, "first_seen": AlertMessage.format(i.firstSeen, timeZone),
            "last_seen": AlertMessage.format(i.lastSeen, timeZone), "when": when, "count": String(i.count), "rule": i.rule,
            "analysis": analysis.map { AlertMessage.clip($0, AlertMessage.analysisBytes) },
            "provenance": AlertMessage.provenance(i, language),
        ]
        func fill(_ s: String, evidence: [String], markdown: Bool) -> String {
            var lines: [String] = []
            for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
                let names = Self.placeholders(String(line))
                if !names.isEmpty, names.allSatisfy({ name in name == "evidence" ? evidence.isEmpty : (values[name] ?? nil)?.isEmpty ?? true }) {
                    continue
                }
                // One pass: a value from a log is never read again as a placeholder.
                lines.append(FieldTemplate.fill(String(line)) { name in
                    if name == "evidence" {
                        return markdown ? evidence.map { "> " + AlertMessage.escape(AlertMessage.clip($0, AlertMessage.evidenceBytes)) }.joined(separator: "\n>\n")
                            : evidence.map { AlertMessage.plainText(AlertMessage.clip($0, AlertMessage.evidenceBytes)) }.joined(separator: "\n")
                    }
                    guard Self.fields.contains(name) else { return nil }
                    let raw = AlertMessage.clip((values[name] ?? nil) ?? "", name == "analysis" ? AlertMessage.analysisBytes : AlertMessage.factBytes)
                    return markdown ? AlertMessage.escape(raw) : AlertMessage.plainText(raw)
                })
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
