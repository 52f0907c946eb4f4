import Foundation
import Testing
import Wire

@testable import Detection

/// The shortcuts of the hot path (rules bucketed by the message's first byte, literal
/// prefixes compared before matching, numbers read from bytes) give the answers of the plain
/// way: every rule of the program in order, then the `*` rules, the first that matches.
@Suite("Rule table")
struct RuleTableTests {
    /// The first rule, in the order the rule set lists them, whose pattern matches the
    /// message with every required capture non-empty: no buckets, no prefix checks.
    static func plainFirstMatch(_ rules: RuleSet, program: String, message: String) -> String? {
        let compiled = rules.table.compiled
        let own = compiled.filter { $0.programs.contains(program) }
        let ordered = own + compiled.filter { $0.programs.contains("*") }
        let bytes = Array(message.utf8)
        return bytes.withUnsafeBufferPointer { text -> String? in
            var r = Detector.trim(text, 0..<text.count)
            if let (_, inner) = Detector.unfoldRepeat(text, r) { r = inner }
            if let inner = Detector.afterMessageID(text, r) { r = inner }
            for rule in ordered {
                let matched = Captures.withStorage { captures -> Bool in
                    guard rule.pattern.match(text, r, into: &captures) else { return false }
                    return rule.required.allSatisfy { $0 < captures.count && !captures[$0].isEmpty }
                }
                if matched { return rule.id }
            }
            return nil
        }
    }

    /// Messages that probe the table: each rule's own literal prefix, cut at every length
    /// and with one byte changed (around the 8-byte head and the full prefix), real messages
    /// of the catalogue, the empty message, and messages starting with every byte.
    static func probes() throws -> [(program: String, message: String)] {
        var probes: [(String, String)] = []
        let rules = RuleSet.builtin
        for rule in rules.table.compiled {
            let prefix = rule.rule.pattern.prefix
            let program = rule.programs.first { $0 != "*" } ?? "anything"
            for cut in 0...prefix.count {
                let head = String(decoding: prefix.prefix(cut), as: UTF8.self)
                probes.append((program, head))
                probes.append((program, head + "x from 192.0.2.1 port 22 ssh2"))
            }
            // The literal the pattern ends with, whole, cut from the front, and changed.
            let steps = rule.pattern.steps
            if let last = steps.last, last.isLiteral, steps.count > 1 {
                let suffix = Array(UnsafeBufferPointer(rebasing: rule.pattern.literals[last.start..<(last.start + last.count)]))
                let body = String(decoding: prefix, as: UTF8.self) + "root from 192.0.2.1 port 22"
                for cut in 0...suffix.count {
                    probes.append((program, body + String(decoding: suffix.suffix(cut), as: UTF8.self)))
                }
                var changed = suffix
                changed[changed.count - 1] ^= 0x01
                probes.append((program, body + String(decoding: changed, as: UTF8.self)))
            }
            for i in [0, 7, 8, 9, prefix.count - 1] where i >= 0 && i < prefix.count {
                var changed = prefix
                changed[i] ^= 0x01
                probes.append((program, String(decoding: changed, as: UTF8.self) + "x"))
            }
        }
        for b in 0x01...0xFF { probes.append(("sshd", String(decoding: [UInt8(b)] + Array(" for root from 192.0.2.1 port 22 ssh2".utf8), as: UTF8.self))) }
        if CatalogueTests.available {
            let log = try String(contentsOf: CatalogueTests.root.appendingPathComponent("synthetic.log"), encoding: .utf8)
            let parser = SyslogParser()
            for line in log.split(separator: "\n") {
                guard let m = try? parser.parse(Array(line.utf8)), let app = m.appName else { continue }
                let program = String(app.split(separator: "/").last ?? "")
                probes.append((program, m.message))
                probes.append(("anything", m.message))
            }
        }
        return probes
    }

    @Test func theTableGivesTheFirstMatchOfThePlainOrder() throws {
        let detector = Detector()
        let probes = try Self.probes()
        #expect(probes.count > 5_000)
        var disagreements = 0
        var matched = 0
        for (program, message) in probes {
            let fast = detector.detect(program: program, pid: nil, host: nil, timeMicroseconds: nil, message: message, raw: message).first?.rule
            let plain = Self.plainFirstMatch(detector.rules, program: program, message: message)
            if plain != nil { matched += 1 }
            if fast != plain {
                disagreements += 1
                if disagreements <= 10 { Issue.record("\(program): \(message): table \(fast ?? "none"), plain \(plain ?? "none")") }
            }
        }
        #expect(disagreements == 0)
        // The probes reach rules: most of the catalogue's messages and every rule's own
        // prefix with a plausible tail match something.
        #expect(matched > 300)
    }

    /// The table holds each rule once per program it applies to, whatever its pattern starts
    /// with: 100 `*` rules starting with a capture add 100 slots per program (they were once
    /// copied into all 257 buckets of every program), and they still match in their place.
    @Test func rulesStartingWithACaptureAreHeldOncePerProgram() throws {
        let extra = try RuleLoader.parse("rules:\n" + (0..<100).map { n in
            "- id: crafted.\(n)\n  programs: [\"*\"]\n  pattern: \"{user} crafted \(n) {_}\"\n  kind: login\n  outcome: failure\n  severity: low\n"
        }.joined(), origin: "crafted.yaml")
        let rules = RuleSet.builtin.rules + extra
        let set = RuleSet(rules)
        let programs = Set(rules.flatMap(\.programs)).subtracting(["*"])
        let wildcard = rules.filter { $0.programs.contains("*") }.count
        let expected = programs.reduce(wildcard) { total, p in total + rules.filter { $0.programs.contains(p) }.count + wildcard }
        #expect(set.table.slotCount == expected, "\(set.table.slotCount) slots for \(expected) rule places")
        let detector = Detector(rules: set)
        let found = detector.detect(program: "sshd", pid: nil, host: nil, timeMicroseconds: nil, message: "root crafted 42 x", raw: "").first
        #expect(found?.rule == "crafted.42")
        #expect(Self.plainFirstMatch(set, program: "sudo", message: "root crafted 7 y") == "crafted.7")
        #expect(detector.detect(program: "sudo", pid: nil, host: nil, timeMicroseconds: nil, message: "root crafted 7 y", raw: "").first?.rule == "crafted.7")
    }

    /// Ports and logon types read from the line's bytes are what `Int64(String)` reads.
    @Test func numbersFromBytesReadAsInt64Does() {
        var texts = ["", "+", "-", "0", "-0", "+12", "12a", " 1", "1 ", "00012", "٣", "9223372036854775807", "9223372036854775808",
                     "-9223372036854775808", "-9223372036854775809", "99999999999999999999999", "+-1", "--1", "0x10"]
        var state: UInt64 = 3
        for _ in 0..<2_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 59)
            var text = state & 1 == 0 ? "" : "-"
            for k in 0..<length { text.append(Character(Unicode.Scalar(UInt8(0x30 + (state >> UInt64(k * 3 % 60)) % 10)))) }
            texts.append(text)
        }
        for text in texts {
            let bytes = Array(text.utf8)
            let fast = bytes.withUnsafeBufferPointer { Detector.Match.Value.decimal($0) }
            #expect(fast == Int64(text), "\(text)")
        }
    }
}
