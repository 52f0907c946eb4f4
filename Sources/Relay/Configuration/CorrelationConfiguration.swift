import Detection
import Plumbing
import Wire
import Yams

/// The `correlation`, `allow` and `store` sections of the relay's configuration
/// (docs/configuration.md).
extension RelayConfiguration {
    /// Rules in `node` (a list) change `rules`: an entry whose id is already there overrides
    /// the settings it gives; a new id adds a rule (after the ones before it, so built-in
    /// composite rules still see events first).
    static func parseRules(_ node: Node, into rules: inout [CorrelationRule], problems: inout ConfigurationProblems) {
        guard let list = node.sequence else {
            problems.add(node, "correlation rules must be a list of rules, each with an id")
            return
        }
        let known: Set<String> = [
            "id", "incident", "type", "match", "first", "first_count", "threshold", "group_by", "window_seconds", "quiet_seconds",
            "severity", "title", "enabled",
        ]
        for item in list {
            guard let m = item.mapping else {
                problems.add(item, "a correlation rule is a mapping with an id")
                continue
            }
            for (k, _) in m where !known.contains(k.string ?? "") {
                problems.add(k, "unknown rule setting \(k.string ?? "?") (known: \(known.sorted().joined(separator: ", ")))")
            }
            guard let id = problems.string(m[Node("id")], "id") else {
                if m[Node("id")] == nil { problems.add(item, "a correlation rule needs an id") }
                continue
            }
            let existing = rules.firstIndex { $0.id == id }
            var rule = existing.map { rules[$0] }
                ?? CorrelationRule(id: id, incident: id, shape: .single, match: EventMatch(), groupBy: [.host], severity: .medium, title: id)
            if existing == nil {
                for required in ["match", "severity"] where m[Node(required)] == nil {
                    problems.add(item, "new rule \(id) needs \(required)")
                }
            }
            if let e = m[Node("enabled")] {
                if let b = e.bool { rule.enabled = b } else { problems.add(e, "enabled must be true or false") }
            }
            if let s = problems.string(m[Node("incident")], "incident") { rule.incident = s }
            if let s = problems.string(m[Node("title")], "title") { rule.title = s }
            if let n = m[Node("severity")] { if let s = severity(n, &problems) { rule.severity = s } }
            if let n = m[Node("match")] { if let match = parseMatch(n, &problems) { rule.match = match } }
            if let n = m[Node("group_by")] { if let fields = fieldList(n, "group_by", &problems) { rule.groupBy = fields } }
            if let n = problems.int(m[Node("window_seconds")], "window_seconds", 1...86_400) {
                rule.windowSeconds = n
                if m[Node("quiet_seconds")] == nil, existing == nil { rule.quietSeconds = n }
            }
            if let n = problems.int(m[Node("quiet_seconds")], "quiet_seconds", 1...604_800) { rule.quietSeconds = n }
            let type = problems.string(m[Node("type")], "type")
            switch type ?? {
                switch rule.shape {
                case .single: "single"
                case .threshold: "threshold"
                case .sequence: "sequence"
                }
            }() {
            case "single":
                rule.shape = .single
            case "threshold":
                var count = 5
                if case .threshold(let c) = rule.shape { count = c }
                if let n = problems.int(m[Node("threshold")], "threshold", 2...1_000_000) { count = n }
                else if m[Node("threshold")] == nil, existing == nil { problems.add(item, "threshold rule \(id) needs threshold") }
                rule.shape = .threshold(count: count)
            case "sequence":
                var first = EventMatch()
                var count = 1
                if case .sequence(let f, let c) = rule.shape { (first, count) = (f, c) }
                if let n = m[Node("first")] { if let f = parseMatch(n, &problems) { first = f } }
                else if existing == nil { problems.add(item, "sequence rule \(id) needs first") }
                if let n = problems.int(m[Node("first_count")], "first_count", 1...10_000) { count = n }
                rule.shape = .sequence(first: first, firstCount: count)
            default:
                problems.add(m[Node("type")], "type must be single, threshold or sequence")
            }
            if let i = existing { rules[i] = rule } else { rules.append(rule) }
        }
    }

    static func severity(_ node: Node, _ problems: inout ConfigurationProblems) -> Event.Severity? {
        guard let s = node.string.flatMap(Event.Severity.init(rawValue:)) else {
            problems.add(node, "severity must be one of info, low, medium, high, critical")
            return nil
        }
        return s
    }

    /// One text or a list of texts.
    static func texts(_ node: Node, _ name: String, _ problems: inout ConfigurationProblems) -> [String]? {
        if let s = node.scalar?.string { return [s] }
        if let seq = node.sequence {
            let values = seq.compactMap { $0.scalar?.string }
            if values.count == seq.count { return values }
        }
        problems.add(node, "\(name) must be a text or a list of texts")
        return nil
    }

    static func fieldList(_ node: Node, _ name: String, _ problems: inout ConfigurationProblems) -> [EventField]? {
        guard let names = texts(node, name, &problems) else { return nil }
        var fields: [EventField] = []
        for n in names {
            if let f = EventField(rawValue: n) { fields.append(f) } else {
                problems.add(node, "\(name): \(n) is not a field (fields: \(EventField.allCases.map(\.rawValue).sorted().joined(separator: ", ")))")
            }
        }
        return fields.count == names.count ? fields : nil
    }

    static func parseMatch(_ node: Node, _ problems: inout ConfigurationProblems) -> EventMatch? {
        guard let m = node.mapping else {
            problems.add(node, "match must be a mapping, e.g. {kind: login, outcome: failure}")
            return nil
        }
        var match = EventMatch()
        var values: [EventField: Set<String>] = [:]
        let before = problems.messages.count
        for (k, v) in m {
            switch k.string ?? "" {
            case "kind":
                if let kinds = texts(v, "kind", &problems) {
                    for kind in kinds where !Event.Kind.vocabulary.map(\.rawValue).contains(kind) {
                        problems.add(v, "kind \(kind) is not in the vocabulary")
                    }
                    match.kinds = Set(kinds)
                }
            case "outcome":
                if let o = v.string.flatMap(Event.Outcome.init(rawValue:)) { match.outcome = o } else { problems.add(v, "outcome must be success or failure") }
            case "has":
                if let fields = fieldList(v, "has", &problems) { match.has = Set(fields) }
            case "severity_at_least":
                match.minimumSeverity = severity(v, &problems)
            case "not":
                // Field values that exclude an event: {method: [publickey]}. A match written in
                // the configuration replaces the built-in one, its exclusions included.
                guard let excluded = v.mapping else {
                    problems.add(v, "not must be a mapping of fields to values, e.g. {method: [publickey]}")
                    continue
                }
                var fields: [EventField: Set<String>] = [:]
                for (ek, ev) in excluded {
                    guard let field = EventField(rawValue: ek.string ?? "") else {
                        problems.add(ek, "unknown field \(ek.string ?? "?") in not")
                        continue
                    }
                    if let list = texts(ev, ek.string ?? "", &problems) { fields[field] = Set(list.map { $0.lowercased() }) }
                }
                match.excluded = fields
            case let name:
                guard let field = EventField(rawValue: name), field != .kind, field != .outcome else {
                    problems.add(k, "unknown match condition \(name) (kind, outcome, has, severity_at_least, not, or a field name)")
                    continue
                }
                if let list = texts(v, name, &problems) { values[field] = Set(list.map { $0.lowercased() }) }
            }
        }
        match.values = values
        return problems.messages.count == before ? match : nil
    }

    static let weekdayNames = ["mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7]

    static func parseAllowlist(_ node: Node, _ problems: inout ConfigurationProblems) -> [Allowance] {
        guard let list = node.sequence else {
            problems.add(node, "allow must be a list of entries, e.g. - {source_ip: 10.0.5.0/24, kind: login}")
            return []
        }
        let known: Set<String> = ["source_ip", "user", "host", "kind", "rule", "weekdays", "from", "to", "reason"]
        var result: [Allowance] = []
        for item in list {
            guard let m = item.mapping else {
                problems.add(item, "an allow entry is a mapping of conditions")
                continue
            }
            var a = Allowance()
            for (k, v) in m {
                let name = k.string ?? ""
                guard known.contains(name) else {
                    problems.add(k, "unknown allow condition \(name) (known: \(known.sorted().joined(separator: ", ")))")
                    continue
                }
                switch name {
                case "source_ip":
                    for text in texts(v, name, &problems) ?? [] {
                        if let r = IPRange(text) { a.sources.append(r) } else { problems.add(v, "\(text) is not an address or network (10.0.0.0/8, 2001:db8::/32)") }
                    }
                case "user": a.users = Set(texts(v, name, &problems) ?? [])
                case "host": a.hosts = Set(texts(v, name, &problems) ?? [])
                case "kind": a.kinds = Set(texts(v, name, &problems) ?? [])
                case "rule": a.rules = Set(texts(v, name, &problems) ?? [])
                case "weekdays":
                    for day in texts(v, name, &problems) ?? [] {
                        if let d = weekdayNames[String(day.lowercased().prefix(3))] { a.weekdays.insert(d) } else { problems.add(v, "\(day) is not a weekday (mon ... sun)") }
                    }
                case "from", "to":
                    let minute = (v.scalar?.string).flatMap(Self.minuteOfDay)
                    if minute == nil { problems.add(v, "\(name) must be a time of day HH:MM") }
                    if name == "from" { a.fromMinute = minute } else { a.toMinute = minute }
                case "reason": a.reason = v.scalar?.string
                default: break
                }
            }
            if (a.fromMinute == nil) != (a.toMinute == nil) { problems.add(item, "give both from and to, or neither") }
            if m.count == (a.reason == nil ? 0 : 1) { problems.add(item, "an allow entry needs at least one condition") }
            result.append(a)
        }
        return result
    }

    static func minuteOfDay(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m), h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }
}
