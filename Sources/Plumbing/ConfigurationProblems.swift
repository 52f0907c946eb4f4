import Foundation
import Wire
import Yams

/// Every mistake in a configuration file, each with its line.
package struct ConfigurationProblems: Error, CustomStringConvertible, Sendable {
    package let origin: String
    package private(set) var messages: [String] = []

    package init(origin: String) { self.origin = origin }

    package mutating func add(_ node: Node?, _ message: String) {
        if let mark = node?.mark {
            messages.append("\(origin):\(mark.line):\(mark.column): \(message)")
        } else {
            messages.append("\(origin): \(message)")
        }
    }

    package var description: String { messages.joined(separator: "\n") }

    /// The text of the configuration file at `path`; throws the problem "cannot read the
    /// file" with the path as its origin.
    package static func text(ofFile path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            var p = ConfigurationProblems(origin: path)
            p.add(nil, "cannot read the file")
            throw p
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses `yaml` down to its top-level mapping and reports settings not in `known`.
    /// Throws `self` when there is no mapping to read.
    package mutating func topLevel(_ yaml: String, known: Set<String>) throws -> (root: Node, map: Node.Mapping) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                add(nil, "the file is empty")
                throw self
            }
            root = node
        } catch let p as ConfigurationProblems {
            throw p
        } catch {
            add(nil, Self.yamlProblem(error))
            throw self
        }
        guard let map = root.mapping else {
            add(root, "the top level must be a mapping of settings")
            throw self
        }
        for (k, _) in map where !known.contains(k.string ?? "") {
            add(k, "unknown setting \(k.string ?? "?") (known: \(known.sorted().joined(separator: ", ")))")
        }
        return (root, map)
    }

    /// A YAML syntax error as its place and the parser's words, never the text of the line:
    /// Yams' own description quotes it, and the line may hold a secret (`passkey: "..."`,
    /// a key with a stray quote) that would then reach a terminal or a log.
    package static func yamlProblem(_ error: any Error) -> String {
        guard let e = error as? YamlError else { return "not valid YAML" }
        switch e {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return "line \(mark.line), column \(mark.column): not valid YAML: \(problem)"
        case let .reader(problem, offset, _, _):
            return "not valid YAML: \(problem)" + (offset.map { " at byte \($0)" } ?? "")
        case let .duplicatedKeysInMapping(duplicates, context):
            return "line \(context.mark.line): a setting given twice: \(duplicates.sorted().joined(separator: ", "))"
        default:
            return "not valid YAML"
        }
    }

    /// A non-empty text value, or nil (reported when present but not text).
    package mutating func string(_ node: Node?, _ name: String) -> String? {
        guard let node else { return nil }
        guard let s = node.scalar?.string, !s.isEmpty else {
            add(node, "\(name) must be text")
            return nil
        }
        return s
    }

    /// A secret given as `name` (inline), `name_file` (a file) or `name_env` (an environment
    /// variable) in `map`; nil when none is. More than one is a mistake, reported. `label`
    /// names the settings in messages (`analysis.api_key`); `check` looks at an inline value.
    package mutating func secret(
        _ name: String, in map: Node.Mapping, label: String? = nil, check: (String) -> String? = { _ in nil }
    ) -> SecretSource? {
        let label = label ?? name
        let given = [name, name + "_file", name + "_env"].filter { map[Node($0)] != nil }
        if given.count > 1 {
            add(map[Node(given[1])], "give only one of \(label), \(label)_file, \(label)_env")
        }
        if let v = string(map[Node(name)], label) {
            if let problem = check(v) { add(map[Node(name)], problem) }
            return .inline(v)
        }
        if let v = string(map[Node(name + "_file")], label + "_file") { return .file(v) }
        if let v = string(map[Node(name + "_env")], label + "_env") { return .environment(v) }
        return nil
    }

    /// A whole number within `range`, or nil (reported when present but not one).
    package mutating func int(_ node: Node?, _ name: String, _ range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        guard let i = node.int, range.contains(i) else {
            add(node, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return i
    }

    /// `host:port` or `[v6-address]:port`.
    package static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            return (host, port)
        }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), !parts[0].isEmpty else { return nil }
        return (String(parts[0]), port)
    }

}
