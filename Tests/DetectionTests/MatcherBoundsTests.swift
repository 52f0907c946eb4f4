import Foundation
import Testing
import Wire

@testable import Detection

/// Matching costs time linear in the line, whatever the line: crafted text cannot stall the
/// edge or the relay (issue 10, class 1).
@Suite("Matching in bounded time")
struct MatcherBoundsTests {
    /// CPU time of this thread, in seconds.
    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static let size = 64 * 1024

    /// Lines built from a rule's own literals, the shapes that make a backtracking matcher
    /// try every occurrence of every literal after every capture.
    static func adversarialMessages(for pattern: Pattern) -> [String] {
        var literals: [String] = []
        for segment in pattern.segments {
            if case .literal(let bytes) = segment { literals.append(String(decoding: bytes, as: UTF8.self)) }
        }
        let startsWithLiteral: Bool
        if case .literal? = pattern.segments.first { startsWithLiteral = true } else { startsWithLiteral = false }
        let prefix = startsWithLiteral ? literals[0] : ""
        let inner = Array(literals.dropFirst(startsWithLiteral ? 1 : 0).dropLast(literals.count > 1 ? 1 : 0))
        func fill(_ unit: String) -> String {
            guard !unit.isEmpty else { return prefix }
            var s = prefix
            s.reserveCapacity(size)
            while s.utf8.count + unit.utf8.count < size { s += unit }
            return s
        }
        var messages: [String] = []
        // Every literal in order, again and again, never the last one.
        messages.append(fill(inner.joined(separator: "a")))
        messages.append(fill(inner.joined()))
        messages.append(fill(inner.joined(separator: " ")))
        // Each literal on its own, repeated.
        for l in Set(literals) { messages.append(fill(l)) }
        // The rule's own text with its literals repeated inside, then cut short.
        messages.append(fill(literals.joined(separator: "1 ")))
        // No spaces at all, and nothing but spaces.
        messages.append(fill("a"))
        messages.append(fill(" "))
        return messages
    }

    /// Every built-in rule, on lines of 64 KiB crafted from its own pattern, within a fixed
    /// CPU budget. On the backtracking matcher alone one such line took minutes.
    /// (Async, yielding between lines: a few seconds of matching must not hold one of the
    /// test runner's two threads and starve the timing tests beside it.)
    @Test func everyBuiltinRuleOnAdversarialLinesStaysWithinBudget() async {
        let detector = Detector()
        var lines = 0
        var worst = 0.0
        var worstRule = ""
        var total = 0.0
        for rule in RuleSet.builtin.rules {
            let program = rule.programs.first { $0 != "*" } ?? "anyprogram"
            for message in Self.adversarialMessages(for: rule.pattern) {
                let t0 = Self.threadCPU()
                _ = detector.detect(program: program, pid: 1, host: "h", timeMicroseconds: 0, message: message, raw: "")
                let t = Self.threadCPU() - t0
                total += t
                if t > worst { (worst, worstRule) = (t, rule.id) }
                lines += 1
                await Task.yield()
            }
        }
        print("adversarial: \(lines) lines of 64 KiB through all rules of their program in \(String(format: "%.2f", total)) s CPU; worst line \(String(format: "%.3f", worst)) s (\(worstRule))")
        #expect(worst < 0.5, "one 64 KiB line took \(worst) s of CPU (rule \(worstRule))")
        #expect(total < 60)
    }

    /// The issue's own example: a PAM failure with ` uid= euid= tty= ruser=` repeated and no
    /// rhost, under every program (the `*` rules), grows linearly: 64 KiB costs about what
    /// 8 KiB costs, times eight.
    @Test func pamFailureCostIsLinearInTheLine() {
        let detector = Detector()
        func cost(_ bytes: Int) -> Double {
            var m = "pam_unix(cron:auth): authentication failure; logname="
            while m.utf8.count < bytes { m += " uid= euid= tty= ruser=" }
            let t0 = Self.threadCPU()
            for _ in 0..<4 {
                _ = detector.detect(program: "cron", pid: 1, host: "h", timeMicroseconds: 0, message: m, raw: "")
            }
            return (Self.threadCPU() - t0) / 4
        }
        _ = cost(1024)
        let small = cost(8 * 1024)
        let large = cost(64 * 1024)
        print("pam adversarial: 8 KiB \(String(format: "%.4f", small)) s, 64 KiB \(String(format: "%.4f", large)) s")
        #expect(large < 0.25)
        #expect(large < max(small, 0.0005) * 8 * 4, "64 KiB cost \(large) s against \(small) s for 8 KiB: not linear")
    }

    /// The linear matcher gives the backtracking matcher's answer (match or not, and every
    /// capture's range) on random patterns and texts over a small alphabet, where literals
    /// recur and captures have many possible ends.
    @Test func linearMatcherAgreesWithBacktracking() async throws {
        var rng = SeededGenerator(state: 0x5eed_1234)
        let alphabet: [Character] = ["a", "b", " ", "1", "2"]
        let types = ["", ":any", ":greedy", ":word", ":int"]
        var compared = 0
        var matched = 0
        for round in 0..<3000 {
            // Long and CPU-bound: leave the two cooperative threads to other tests now and then.
            if round % 50 == 0 { await Task.yield() }
            var pattern = ""
            let parts = Int(rng.next() % 6) + 1
            var lastWasCapture = false
            for i in 0..<parts {
                if !lastWasCapture && (i > 0 || rng.next() % 2 == 0) && rng.next() % 2 == 0 {
                    pattern += "{c\(i)\(types[Int(rng.next() % UInt64(types.count))])}"
                    lastWasCapture = true
                } else {
                    for _ in 0..<(Int(rng.next() % 3) + 1) { pattern.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                    lastWasCapture = false
                }
            }
            let p = try Pattern(pattern)
            var literals: [String] = []
            for segment in p.segments { if case .literal(let b) = segment { literals.append(String(decoding: b, as: UTF8.self)) } }
            for n in 0..<20 {
                var text = ""
                if n % 2 == 0 {
                    for _ in 0..<Int(rng.next() % 24) { text.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                } else {
                    // The pattern's own shape: literals as they are, captures filled with
                    // bits of the alphabet and of the literals (so their ends are ambiguous).
                    for segment in p.segments {
                        switch segment {
                        case .literal(let b): text += String(decoding: b, as: UTF8.self)
                        case .capture:
                            for _ in 0..<Int(rng.next() % 4) {
                                if rng.next() % 3 == 0, let l = literals.randomElement(using: &rng) { text += l }
                                else { text.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                            }
                        }
                    }
                }
                let bytes = Array(text.utf8)
                let (a, ra) = Self.run(p, bytes, PatternProgram.matchBacktracking)
                let (b, rb) = Self.run(p, bytes, PatternProgram.matchLinear)
                #expect(a == b && ra == rb, "pattern '\(pattern)' text '\(text)': backtracking \(a) \(ra), linear \(b) \(rb)")
                compared += 1
                if a { matched += 1 }
            }
        }
        // The comparison means something only if both outcomes are common.
        #expect(matched > compared / 20 && matched < compared - compared / 20)
    }

    /// The built-in rules give the same events through the linear matcher as through the
    /// backtracking one on the shared Debian 12 and loghub test data.
    @Test func linearMatcherAgreesOnRealLines() async throws {
        var lines: [[UInt8]] = []
        if ConformanceTests.available {
            lines = try ConformanceTests.lines("debian12/auth.traditional.log").map { Array($0.utf8) }
            lines += try ConformanceTests.lines("../auth-messages/synthetic.log").map { Array($0.utf8) }
        }
        lines += [Array("Failed password for invalid user a from 6.6.6.6 port 7 ssh2 from 203.0.113.9 port 22 ssh2".utf8)]
        var compared = 0
        for rule in RuleSet.builtin.rules {
            await Task.yield()
            for line in lines {
                // The message after "host program[pid]: ", or the whole line.
                let message: [UInt8]
                if let r = line.firstRange(of: Array("]: ".utf8)) { message = Array(line[r.upperBound...]) } else { message = line }
                let (a, ra) = Self.run(rule.pattern, message, PatternProgram.matchBacktracking)
                let (b, rb) = Self.run(rule.pattern, message, PatternProgram.matchLinear)
                #expect(a == b && ra == rb, "rule \(rule.id) on \(String(decoding: message, as: UTF8.self))")
                compared += 1
            }
        }
        #expect(compared > 1000)
    }

    typealias Matching = (UnsafeBufferPointer<UInt8>, Range<Int>, UnsafeBufferPointer<Pattern.Step>, UnsafeBufferPointer<UInt8>, inout Captures) -> Bool

    static func run(_ p: Pattern, _ bytes: [UInt8], _ f: Matching) -> (Bool, [Range<Int>]) {
        bytes.withUnsafeBufferPointer { m in
            Captures.withStorage { captures in
                let ok = f(m, 0..<m.count, UnsafeBufferPointer(p.program.steps), UnsafeBufferPointer(p.program.literals), &captures)
                return (ok, ok ? (0..<captures.count).map { captures[$0] } : [])
            }
        }
    }
}

/// A small deterministic generator (Knuth's MMIX LCG, high bits), so a failure names a
/// reproducible case.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (state >> 29) ^ (state << 35)
    }
}
