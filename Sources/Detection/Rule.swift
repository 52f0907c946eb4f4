import Foundation
import Plumbing
import Wire
import Yams

/// One detection rule: which programs it reads, the message pattern, and the event it makes.
///
/// Rules are data. The built-in pack (`RuleSet.builtin`) is YAML in
/// `BuiltinRules.swift`; operators add or override rules with files in the same format
/// (docs/rules.md).
package struct Rule: Sendable {
    /// Stable id, reported as the event's `rule`. A file rule with a built-in rule's id
    /// replaces it.
    package var id: String
    /// Program names (the syslog TAG without `[pid]`); `*` matches any program.
    package var programs: [String]
    package var pattern: Pattern
    package var kind: Event.Kind
    package var outcome: Event.Outcome?
    package var severity: Event.Severity
    /// Fields set to fixed values, e.g. `method: password`.
    package var set: [String: String]
    /// Fields taken from the first non-empty of several captures, e.g. `user: [ruser, pam_user]`.
    package var map: [String: [String]]
    /// Captures that must be non-empty for the rule to apply.
    package var require: [String]

    /// The event fields a rule may fill from captures or constants.
    package static let settableFields: Set<String> = [
        "user", "target_user", "group", "source_ip", "source_port", "method", "logon_type",
    ]
}

/// An ordered set of rules, indexed by program. For each line the first rule that matches
/// wins: rules for the line's program in order, then rules for any program.
package struct RuleSet: Sendable {
    package let rules: [Rule]
    /// Rules for Windows events (`event_id` rules), in order: the first that applies wins.
    package let windowsRules: [WindowsRule]
    let table: ProgramTable

    package init(_ rules: [Rule], windows: [WindowsRule] = []) {
        self.rules = rules
        self.windowsRules = windows
        table = ProgramTable(rules.map(CompiledRule.init))
    }

    /// The built-in pack: the syslog rules and the Windows rules.
    package static let builtin: RuleSet = {
        do {
            return RuleSet(
                try RuleLoader.parse(BuiltinRules.yaml, origin: "built-in rules"),
                windows: try RuleLoader.parseWindows(BuiltinWindowsRules.yaml, origin: "built-in Windows rules"))
        } catch {
            fatalError("the built-in rule pack does not load: \(error)")
        }
    }()

    /// This set with `overrides` applied: a rule with an existing id replaces it in place
    /// (`disabled: true` removes it); new rules come before the existing ones, so local
    /// rules take precedence.
    package func applying(_ overrides: [RuleLoader.Override]) -> RuleSet {
        var result = rules
        var added: [Rule] = []
        var windows = windowsRules
        var addedWindows: [WindowsRule] = []
        for o in overrides {
            // An id names one rule, syslog or Windows: the override takes its place, and a
            // disabled one (neither) removes it.
            if let i = result.firstIndex(where: { $0.id == o.id }) {
                if let rule = o.rule { result[i] = rule } else { result.remove(at: i) }
            } else if let rule = o.rule {
                added.append(rule)
            }
            if let i = windows.firstIndex(where: { $0.id == o.id }) {
                if let rule = o.windowsRule { windows[i] = rule } else { windows.remove(at: i) }
            } else if let rule = o.windowsRule {
                addedWindows.append(rule)
            }
        }
        return RuleSet(added + result, windows: addedWindows + windows)
    }
}

/// A rule prepared for the hot path: a class, so handing it around costs no copies, with
/// its field assignments resolved to capture slots.
final class CompiledRule: Sendable {
    typealias Field = Detector.Match.Field

    struct Assignment: Sendable {
        var field: Field
        /// Capture slots to take the value from, first non-empty wins.
        var slots: [Int]
        var constant: String?
    }

    let rule: Rule
    let id: String
    let kind: Event.Kind
    let outcome: Event.Outcome?
    let severity: Event.Severity
    let pattern: PatternProgram
    let assignments: [Assignment]
    let required: [Int]
    let programs: [String]

    init(_ rule: Rule) {
        self.rule = rule
        id = rule.id
        kind = rule.kind
        outcome = rule.outcome
        severity = rule.severity
        pattern = rule.pattern.program
        programs = rule.programs
        let slots = rule.pattern.slotNames
        func slotIndexes(_ names: [String]) -> [Int] { names.compactMap { n in slots.firstIndex(of: n) } }
        let fields: [(String, Field)] = [
            ("user", .user), ("target_user", .targetUser), ("group", .group), ("source_ip", .sourceIP),
            ("source_port", .sourcePort), ("method", .method), ("logon_type", .logonType),
        ]
        assignments = fields.compactMap { name, field in
            let sources = slotIndexes((rule.map[name] ?? []) + [name])
            let constant = rule.set[name]
            return sources.isEmpty && constant == nil ? nil : Assignment(field: field, slots: sources, constant: constant)
        }
        required = slotIndexes(rule.require)
    }
}

/// Rules by program name, looked up from the name's bytes without making a String, in
/// tables of plain values so the per-line loop does no reference counting. The pattern
/// buffers it points into belong to `compiled`, which the table keeps alive.
struct ProgramTable: Sendable {
    /// What the hot loop needs of a rule.
    struct HotRule: Sendable {
        nonisolated(unsafe) var steps: UnsafeBufferPointer<Pattern.Step>
        nonisolated(unsafe) var literals: UnsafeBufferPointer<UInt8>
        /// Bit i set: capture slot i must be non-empty.
        var required: UInt64
        /// Up to the first 8 bytes the message must start with, packed little-endian, and
        /// how many: one comparison rejects most rules for most lines.
        var head: UInt64
        var headCount: Int
        /// The length of the whole literal the message must start with (the first bytes of
        /// `literals`): compared before the matcher runs, so rules that share their first
        /// eight bytes (`pam_unix(sshd:auth): ...`) cost a comparison each, not a match.
        var prefixCount: Int
        /// The literal the message must end with when the pattern ends with one (patterns
        /// are anchored at both ends), as a range of `literals`; empty when it ends with a
        /// capture. Compared before the matcher runs too.
        var suffix: Range<Int>
        /// Index into `compiled`.
        var index: Int
    }

    struct Entry: Sendable {
        var hash: UInt64
        var name: Range<Int>
        /// Where this program's buckets start in `buckets`.
        var buckets: Int
    }

    let compiled: [CompiledRule]
    private let hot: [HotRule]
    private let entries: [Entry]
    private let names: [UInt8]
    /// A rule's place in its program's list (the program's rules, then the `*` rules) and
    /// its index into `hot`.
    struct Slot: Sendable {
        var place: Int32
        var rule: Int32
    }
    /// The buckets' slots, each bucket in rule order.
    private let lists: [Slot]
    /// Per program (and last, for programs no rule names): 257 ranges of `lists`. The first
    /// 256, one per first byte of the message, hold the rules whose pattern starts with that
    /// byte; the last holds the rules whose pattern starts with a capture. A line meets the
    /// two lists of its first byte, merged by place: only the rules that can match it, in
    /// the order of the whole list, and each rule is kept once per program (a rule starting
    /// with a capture was once copied into every bucket).
    private let buckets: [Range<Int>]
    private let anyBuckets: Int
    /// Open addressing over `entries` by name hash: an index, or -1 for an empty slot.
    private let slots: [Int]
    static let bucketCount = 257

    /// Slots held in all buckets: each rule once per program it applies to (tests).
    var slotCount: Int { lists.count }

    init(_ compiled: [CompiledRule]) {
        self.compiled = compiled
        let hot = compiled.enumerated().map { i, rule in
            HotRule(
                steps: UnsafeBufferPointer(rule.pattern.steps), literals: UnsafeBufferPointer(rule.pattern.literals),
                required: rule.required.reduce(0) { $1 < 64 ? $0 | (1 << UInt64($1)) : $0 },
                head: Self.pack(rule.rule.pattern.prefix.prefix(8)), headCount: min(8, rule.rule.pattern.prefix.count),
                prefixCount: rule.rule.pattern.prefix.count,
                suffix: rule.pattern.steps.last.map { $0.isLiteral ? $0.start..<($0.start + $0.count) : 0..<0 } ?? 0..<0, index: i)
        }
        self.hot = hot
        let wildcard = compiled.indices.filter { compiled[$0].programs.contains("*") }
        var programNames: [String] = []
        for rule in compiled { for p in rule.programs where p != "*" && !programNames.contains(p) { programNames.append(p) } }
        var entries: [Entry] = []
        var names: [UInt8] = []
        var lists: [Slot] = []
        var buckets: [Range<Int>] = []
        func addBuckets(_ rules: [Int]) {
            // Each rule goes to the bucket of its first byte, or to the last when its pattern
            // starts with a capture; buckets keep the rules' order.
            var byFirst = [[Slot]](repeating: [], count: Self.bucketCount)
            for (place, i) in rules.enumerated() {
                let slot = Slot(place: Int32(place), rule: Int32(i))
                byFirst[hot[i].headCount == 0 ? Self.bucketCount - 1 : Int(UInt8(truncatingIfNeeded: hot[i].head))].append(slot)
            }
            for list in byFirst {
                buckets.append(lists.count..<(lists.count + list.count))
                lists += list
            }
        }
        for name in programNames {
            let bytes = Array(name.utf8)
            entries.append(Entry(hash: Self.hash(bytes), name: names.count..<(names.count + bytes.count), buckets: buckets.count))
            names += bytes
            addBuckets(compiled.indices.filter { compiled[$0].programs.contains(name) } + wildcard)
        }
        anyBuckets = buckets.count
        addBuckets(wildcard)
        var size = 16
        while size < 2 * entries.count { size *= 2 }
        var slots = [Int](repeating: -1, count: size)
        for (i, e) in entries.enumerated() {
            var at = Int(truncatingIfNeeded: e.hash) & (size - 1)
            while slots[at] >= 0 { at = (at + 1) & (size - 1) }
            slots[at] = i
        }
        self.slots = slots
        self.entries = entries
        self.names = names
        self.lists = lists
        self.buckets = buckets
    }

    /// Calls `body` with each rule for `program` that can match a message starting with
    /// `first` (nil: an empty message), in order, until it returns true.
    @inline(__always)
    func forEachRule(for program: UnsafeBufferPointer<UInt8>, first: UInt8?, _ body: (HotRule) -> Bool) {
        let h = Self.hash(program)
        entries.withUnsafeBufferPointer { entries in
            names.withUnsafeBufferPointer { names in
                lists.withUnsafeBufferPointer { lists in
                    hot.withUnsafeBufferPointer { hot in
                        var start = anyBuckets
                        var at = Int(truncatingIfNeeded: h) & (slots.count - 1)
                        while slots[at] >= 0 {
                            let e = entries[slots[at]]
                            if e.hash == h, e.name.count == program.count, zip(e.name, program.indices).allSatisfy({ names[$0] == program[$1] }) {
                                start = e.buckets
                                break
                            }
                            at = (at + 1) & (slots.count - 1)
                        }
                        // The rules of the first byte and those starting with a capture,
                        // merged by place (an empty message meets only the latter).
                        let headed = first.map { buckets[start + Int($0)] } ?? 0..<0
                        let open = buckets[start + Self.bucketCount - 1]
                        var i = headed.lowerBound
                        var j = open.lowerBound
                        while i < headed.upperBound || j < open.upperBound {
                            let slot: Slot
                            if j >= open.upperBound || (i < headed.upperBound && lists[i].place < lists[j].place) {
                                slot = lists[i]
                                i += 1
                            } else {
                                slot = lists[j]
                                j += 1
                            }
                            if body(hot[Int(slot.rule)]) { return }
                        }
                    }
                }
            }
        }
    }

    /// Bytes packed little-endian into a word (at most 8).
    @inline(__always)
    static func pack(_ bytes: some Collection<UInt8>) -> UInt64 {
        var word: UInt64 = 0
        for (i, b) in bytes.prefix(8).enumerated() { word |= UInt64(b) << (8 * UInt64(i)) }
        return word
    }

    static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

/// Reads rules from YAML, reporting every mistake with its location.
package enum RuleLoader {
    /// A rule from a file: a replacement or addition, or (`rule == nil`) a removal.
    package struct Override: Sendable {
        package var id: String
        package var rule: Rule?
        package var windowsRule: WindowsRule?

        init(id: String, rule: Rule? = nil, windowsRule: WindowsRule? = nil) {
            self.id = id
            self.rule = rule
            self.windowsRule = windowsRule
        }
    }

    package struct Problems: Error, CustomStringConvertible, Sendable {
        package var messages: [String]
        package var description: String { messages.joined(separator: "\n") }
    }

    struct Spec {
        var id: String?
        var programs: [String]?
        var program: String?
        var pattern: String?
        var kind: String?
        var outcome: String?
        var severity: String?
        var set: [String: String]?
        var map: [String: [String]]?
        var require: [String]?
        var disabled: Bool?
        // Windows rules
        var eventIDs: [String]?
        var channel: String?
        var provider: String?
        var conditions: [(field: String, values: [String], negated: Bool)] = []
    }

    static let specKeys: Set<String> = [
        "id", "programs", "program", "pattern", "kind", "outcome", "severity", "set", "map", "require", "disabled",
        "event_id", "channel", "provider", "where", "unless",
    ]

    /// The rules of a file, read from its YAML nodes (Yams' Codable decoding took longer
    /// than running the rules over a large log); shape mistakes are added to `problems`.
    static func specs(_ yaml: String, origin: String, problems: inout [String]) throws -> [Spec] {
        let root: Node?
        do {
            // The basic resolver: every scalar a string, no regular expression per scalar.
            root = try Yams.compose(yaml: yaml, .basic)
        } catch {
            throw Problems(messages: ["\(origin): \(ConfigurationProblems.yamlProblem(error))"])
        }
        func fields(_ m: Node.Mapping) -> [String: Node] {
            var d: [String: Node] = [:]
            for (k, v) in m { if let k = k.scalar?.string { d[k] = v } }
            return d
        }
        guard let top = root?.mapping, let list = fields(top)["rules"]?.sequence else {
            throw Problems(messages: ["\(origin): expected a mapping with rules: a list of rules"])
        }
        func texts(_ node: Node?) -> [String]? {
            guard let node else { return nil }
            if let s = node.scalar?.string { return [s] }
            return node.sequence?.compactMap { $0.scalar?.string }
        }
        var specs: [Spec] = []
        for (index, item) in list.enumerated() {
            guard let mapping = item.mapping else {
                problems.append("\(origin): rules[\(index)]: a rule must be a mapping")
                specs.append(Spec())
                continue
            }
            let m = fields(mapping)
            var spec = Spec()
            spec.id = m["id"]?.scalar?.string
            let at = "\(origin): rules[\(index)]" + (spec.id.map { " (\($0))" } ?? "")
            for key in m.keys.sorted() where !specKeys.contains(key) {
                problems.append("\(at): unknown setting \(key) (known: \(specKeys.sorted().joined(separator: ", ")))")
            }
            spec.programs = m["programs"].flatMap(texts)
            spec.program = m["program"]?.scalar?.string
            spec.pattern = m["pattern"]?.scalar?.string
            spec.kind = m["kind"]?.scalar?.string
            spec.outcome = m["outcome"]?.scalar?.string
            spec.severity = m["severity"]?.scalar?.string
            if let n = m["set"] {
                if let pairs = n.mapping {
                    spec.set = [:]
                    for (k, v) in pairs { if let k = k.scalar?.string, let v = v.scalar?.string { spec.set?[k] = v } }
                } else {
                    problems.append("\(at): set must be a mapping of field: value")
                }
            }
            if let n = m["map"] {
                if let pairs = n.mapping {
                    spec.map = [:]
                    for (k, v) in pairs { if let k = k.scalar?.string, let v = texts(v) { spec.map?[k] = v } }
                } else {
                    problems.append("\(at): map must be a mapping of field: [captures]")
                }
            }
            spec.require = texts(m["require"])
            spec.eventIDs = texts(m["event_id"])
            spec.channel = m["channel"]?.scalar?.string
            spec.provider = m["provider"]?.scalar?.string
            for (key, negated) in [("where", false), ("unless", true)] {
                guard let n = m[key] else { continue }
                guard let pairs = n.mapping else {
                    problems.append("\(at): \(key) must be a mapping of value name: [values]")
                    continue
                }
                for (k, v) in pairs {
                    guard let field = k.scalar?.string, let values = texts(v), !values.isEmpty else {
                        problems.append("\(at): \(key) must be a mapping of value name: [values]")
                        continue
                    }
                    spec.conditions.append((field, values, negated))
                }
            }
            if let n = m["disabled"] {
                switch n.scalar?.string.lowercased() {
                case "true", "yes", "on": spec.disabled = true
                case "false", "no", "off": spec.disabled = false
                default: problems.append("\(at): disabled must be true or false")
                }
            }
            specs.append(spec)
        }
        return specs
    }

    /// Syslog rules of a complete pack (no removals, no Windows rules).
    package static func parse(_ yaml: String, origin: String) throws -> [Rule] {
        try overrides(yaml, origin: origin).map { o in
            guard let rule = o.rule else { throw Problems(messages: ["\(origin): rule \(o.id) is disabled or not a syslog rule in a pack"]) }
            return rule
        }
    }

    /// Windows rules of a complete pack.
    package static func parseWindows(_ yaml: String, origin: String) throws -> [WindowsRule] {
        try overrides(yaml, origin: origin).map { o in
            guard let rule = o.windowsRule else { throw Problems(messages: ["\(origin): rule \(o.id) is disabled or not a Windows rule in a pack"]) }
            return rule
        }
    }

    package static func load(file path: String) throws -> [Override] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Problems(messages: ["\(path): cannot read the file"])
        }
        return try overrides(text, origin: path)
    }

    package static func overrides(_ yaml: String, origin: String) throws -> [Override] {
        var problems: [String] = []
        let specs = try specs(yaml, origin: origin, problems: &problems)
        var result: [Override] = []
        var seen: Set<String> = []
        for (index, spec) in specs.enumerated() {
            let at = "\(origin): rules[\(index)]" + (spec.id.map { " (\($0))" } ?? "")
            guard let id = spec.id, !id.isEmpty else {
                problems.append("\(at): id is missing")
                continue
            }
            if !seen.insert(id).inserted { problems.append("\(at): id \(id) appears twice") }
            if spec.disabled == true {
                result.append(Override(id: id, rule: nil))
                continue
            }
            if let eventIDs = spec.eventIDs {
                var local: [String] = []
                if let rule = windowsRule(spec, id: id, eventIDs: eventIDs, at: at, problems: &local) {
                    result.append(Override(id: id, windowsRule: rule))
                }
                problems += local
                continue
            }
            var local: [String] = []
            for key in ["channel", "provider"] where (key == "channel" ? spec.channel : spec.provider) != nil {
                local.append("\(at): \(key) is for Windows rules (with event_id)")
            }
            if !spec.conditions.isEmpty { local.append("\(at): where and unless are for Windows rules (with event_id)") }
            let programs = spec.programs ?? spec.program.map { [$0] } ?? []
            if programs.isEmpty { local.append("\(at): programs is missing") }
            var pattern: Pattern?
            if let text = spec.pattern {
                do { pattern = try Pattern(text) } catch { local.append("\(at): pattern: \(error)") }
            } else {
                local.append("\(at): pattern is missing")
            }
            let kind = spec.kind.map { Event.Kind(rawValue: $0) }
            if let kind, !Event.Kind.vocabulary.contains(kind) {
                local.append("\(at): kind \(kind) is not in the vocabulary (\(Event.Kind.vocabulary.map(\.rawValue).joined(separator: ", ")))")
            } else if kind == nil {
                local.append("\(at): kind is missing")
            }
            var outcome: Event.Outcome?
            if let o = spec.outcome {
                outcome = Event.Outcome(rawValue: o)
                if outcome == nil { local.append("\(at): outcome must be success or failure") }
            }
            let severity = Event.Severity(rawValue: spec.severity ?? "info")
            if severity == nil { local.append("\(at): severity must be one of info, low, medium, high, critical") }
            for field in Array((spec.set ?? [:]).keys) + Array((spec.map ?? [:]).keys) where !Rule.settableFields.contains(field) {
                local.append("\(at): \(field) is not a field a rule can set (\(Rule.settableFields.sorted().joined(separator: ", ")))")
            }
            if let pattern {
                let names = Set(pattern.captureNames)
                for (field, sources) in spec.map ?? [:] {
                    for s in sources where !names.contains(s) { local.append("\(at): map.\(field) names \(s), which the pattern does not capture") }
                }
                for r in spec.require ?? [] where !names.contains(r) {
                    local.append("\(at): require names \(r), which the pattern does not capture")
                }
            }
            problems += local
            guard local.isEmpty, let pattern, let kind, let severity else { continue }
            result.append(Override(id: id, rule: Rule(
                id: id, programs: programs, pattern: pattern, kind: kind, outcome: outcome, severity: severity,
                set: spec.set ?? [:], map: spec.map ?? [:], require: spec.require ?? [])))
        }
        guard problems.isEmpty else { throw Problems(messages: problems) }
        return result
    }

    /// A Windows rule from its spec, or nil with the reasons added to `problems`.
    static func windowsRule(_ spec: Spec, id: String, eventIDs: [String], at: String, problems: inout [String]) -> WindowsRule? {
        let before = problems.count
        let ids = eventIDs.compactMap { UInt32($0) }
        if ids.count != eventIDs.count || ids.isEmpty { problems.append("\(at): event_id must be a number or a list of numbers") }
        if spec.pattern != nil || spec.programs != nil || spec.program != nil {
            problems.append("\(at): a Windows rule (event_id) has no programs or pattern")
        }
        if spec.require != nil { problems.append("\(at): require is for syslog rules; use where") }
        let kind = spec.kind.map { Event.Kind(rawValue: $0) }
        if let kind, !Event.Kind.vocabulary.contains(kind) {
            problems.append("\(at): kind \(kind) is not in the vocabulary (\(Event.Kind.vocabulary.map(\.rawValue).joined(separator: ", ")))")
        } else if kind == nil {
            problems.append("\(at): kind is missing")
        }
        var outcome: Event.Outcome?
        if let o = spec.outcome {
            outcome = Event.Outcome(rawValue: o)
            if outcome == nil { problems.append("\(at): outcome must be success or failure") }
        }
        let severity = Event.Severity(rawValue: spec.severity ?? "info")
        if severity == nil { problems.append("\(at): severity must be one of info, low, medium, high, critical") }
        for field in Array((spec.set ?? [:]).keys) + Array((spec.map ?? [:]).keys) where !WindowsRule.settableFields.contains(field) {
            problems.append("\(at): \(field) is not a field a rule can set (\(WindowsRule.settableFields.sorted().joined(separator: ", ")))")
        }
        guard problems.count == before, let kind, let severity else { return nil }
        return WindowsRule(
            id: id, eventIDs: ids, channel: spec.channel ?? "", provider: spec.provider ?? "",
            conditions: spec.conditions.map { WindowsRule.Condition(field: $0.field, values: $0.values.map(WindowsRule.ValuePattern.init), negated: $0.negated) },
            kind: kind, outcome: outcome, severity: severity, set: spec.set ?? [:], map: spec.map ?? [:])
    }
}
