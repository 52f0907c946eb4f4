import Foundation
import Wire
import Yams

/// One detection rule: which programs it reads, the message pattern, and the event it makes.
///
/// Rules are data. The built-in pack (`RuleSet.builtin`) is YAML in
/// `BuiltinRules.swift`; operators add or override rules with files in the same format
/// (docs/rules.md).
public struct Rule: Sendable {
    /// Stable id, reported as the event's `rule`. A file rule with a built-in rule's id
    /// replaces it.
    public var id: String
    /// Program names (the syslog TAG without `[pid]`); `*` matches any program.
    public var programs: [String]
    public var pattern: Pattern
    public var kind: Event.Kind
    public var outcome: Event.Outcome?
    public var severity: Event.Severity
    /// Fields set to fixed values, e.g. `method: password`.
    public var set: [String: String]
    /// Fields taken from the first non-empty of several captures, e.g. `user: [ruser, pam_user]`.
    public var map: [String: [String]]
    /// Captures that must be non-empty for the rule to apply.
    public var require: [String]

    /// The event fields a rule may fill from captures or constants.
    public static let settableFields: Set<String> = [
        "user", "target_user", "group", "source_ip", "source_port", "method", "logon_type",
    ]
}

/// An ordered set of rules, indexed by program. For each line the first rule that matches
/// wins: rules for the line's program in order, then rules for any program.
public struct RuleSet: Sendable {
    public private(set) var rules: [Rule]
    private var byProgram: [String: [Int]] = [:]
    private var anyProgram: [Int] = []

    public init(_ rules: [Rule]) {
        self.rules = rules
        for (i, rule) in rules.enumerated() {
            for p in rule.programs {
                if p == "*" { anyProgram.append(i) } else { byProgram[p, default: []].append(i) }
            }
        }
    }

    func rulesFor(program: String) -> (specific: [Int], any: [Int]) {
        (byProgram[program] ?? [], anyProgram)
    }

    /// The built-in pack.
    public static let builtin: RuleSet = {
        do {
            return RuleSet(try RuleLoader.parse(BuiltinRules.yaml, origin: "built-in rules"))
        } catch {
            fatalError("the built-in rule pack does not load: \(error)")
        }
    }()

    /// This set with `overrides` applied: a rule with an existing id replaces it in place
    /// (`disabled: true` removes it); new rules come before the existing ones, so local
    /// rules take precedence.
    public func applying(_ overrides: [RuleLoader.Override]) -> RuleSet {
        var result = rules
        var added: [Rule] = []
        for o in overrides {
            if let i = result.firstIndex(where: { $0.id == o.id }) {
                if let rule = o.rule { result[i] = rule } else { result.remove(at: i) }
            } else if let rule = o.rule {
                added.append(rule)
            }
        }
        return RuleSet(added + result)
    }
}

/// Reads rules from YAML, reporting every mistake with its location.
public enum RuleLoader {
    /// A rule from a file: a replacement or addition, or (`rule == nil`) a removal.
    public struct Override: Sendable {
        public var id: String
        public var rule: Rule?
    }

    public struct Problems: Error, CustomStringConvertible, Sendable {
        public var messages: [String]
        public var description: String { messages.joined(separator: "\n") }
    }

    struct Spec: Decodable {
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
    }

    struct File: Decodable {
        var rules: [Spec]
    }

    /// Rules of a complete pack (no removals).
    public static func parse(_ yaml: String, origin: String) throws -> [Rule] {
        try overrides(yaml, origin: origin).map { o in
            guard let rule = o.rule else { throw Problems(messages: ["\(origin): rule \(o.id) is disabled in a pack"]) }
            return rule
        }
    }

    public static func load(file path: String) throws -> [Override] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Problems(messages: ["\(path): cannot read the file"])
        }
        return try overrides(text, origin: path)
    }

    public static func overrides(_ yaml: String, origin: String) throws -> [Override] {
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: yaml)
        } catch {
            throw Problems(messages: ["\(origin): \(error)"])
        }
        var problems: [String] = []
        var result: [Override] = []
        var seen: Set<String> = []
        for (index, spec) in file.rules.enumerated() {
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
            var local: [String] = []
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
}
