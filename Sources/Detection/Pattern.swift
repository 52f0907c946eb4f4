import Foundation
/// A rule's message pattern: literal text with named captures, matched against the whole
/// message (anchored at both ends).
///
///     Failed password for {user} from {source_ip} port {source_port} ssh2{_}
///
/// A capture is `{name}` or `{name:type}`. Types: `any` (anything, spaces included, may be
/// empty; the shortest that lets the rest match), `greedy` (like `any`, but the longest),
/// `word` (no spaces, may be empty), `int` (digits, at least one); `{_}` is `any`,
/// discarded. Default types come from the name: `source_port`, `pid` and `logon_type` are
/// `int`, `user` is `any`, everything else `word`.
///
/// Matching backtracks when what follows a capture does not fit. Use `greedy` for a field
/// an attacker controls that comes before the fields that matter: sshd writes the user name
/// before the source address, so `Failed password for {user:greedy} from {source_ip} ...`
/// takes the last " from ", and a user name containing " from 6.6.6.6 port 7 ssh2" cannot
/// move the source.
/// The cost stays small: literals are compared as bytes, and a pattern starting with a
/// literal rejects most lines on its first bytes.
package struct Pattern: Sendable, Hashable, CustomStringConvertible {
    package static func == (a: Pattern, b: Pattern) -> Bool { a.description == b.description }
    package func hash(into hasher: inout Hasher) { hasher.combine(description) }

    enum CaptureType: String, Sendable, Hashable {
        case any, greedy, word, int
    }

    enum Segment: Sendable, Hashable {
        case literal([UInt8])
        case capture(name: String, type: CaptureType)
    }

    let segments: [Segment]
    package let description: String

    /// The segments flattened for matching: trivial values, so the hot loop does no
    /// reference counting. Literal bytes live in `literals`.
    struct Step: Sendable, Hashable {
        var isLiteral: Bool
        var start: Int
        var count: Int
        var type: CaptureType
    }

    let program: PatternProgram
    /// Most captures (`{_}` included) one pattern may have.
    static let maxCaptures = 16

    /// The literal the message must start with (possibly empty).
    let prefix: [UInt8]
    /// Names of the captures, in order.
    package let captureNames: [String]

    package init(_ text: String) throws {
        var segments: [Segment] = []
        var literal: [UInt8] = []
        var names: [String] = []
        var bytes = Array(text.utf8)[...]
        while let b = bytes.first {
            // `{{` is a literal `{` (sudo's JSON log lines).
            if b == UInt8(ascii: "{"), bytes.dropFirst().first == UInt8(ascii: "{") {
                literal.append(b)
                bytes = bytes.dropFirst(2)
                continue
            }
            if b == UInt8(ascii: "{") {
                guard let close = bytes.firstIndex(of: UInt8(ascii: "}")) else {
                    throw PatternError("unclosed { in pattern")
                }
                let inside = String(decoding: bytes[(bytes.startIndex + 1)..<close], as: UTF8.self)
                bytes = bytes[(close + 1)...]
                let parts = inside.split(separator: ":", maxSplits: 1).map(String.init)
                guard let name = parts.first, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw PatternError("bad capture {\(inside)}")
                }
                let type: CaptureType
                if parts.count == 2 {
                    guard let t = CaptureType(rawValue: parts[1]) else { throw PatternError("unknown capture type \(parts[1])") }
                    type = t
                } else {
                    type = Pattern.defaultType(for: name)
                }
                if case .capture? = segments.last, literal.isEmpty {
                    throw PatternError("two captures need literal text between them")
                }
                if !literal.isEmpty {
                    segments.append(.literal(literal))
                    literal = []
                }
                segments.append(.capture(name: name, type: type))
                if name != "_" { names.append(name) }
            } else {
                literal.append(b)
                bytes = bytes.dropFirst()
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        let slots = segments.filter { if case .capture = $0 { true } else { false } }.count
        guard slots <= Pattern.maxCaptures else { throw PatternError("more than \(Pattern.maxCaptures) captures") }
        self.segments = segments
        self.description = text
        var steps: [Step] = []
        var literals: [UInt8] = []
        for segment in segments {
            switch segment {
            case .literal(let bytes):
                steps.append(Step(isLiteral: true, start: literals.count, count: bytes.count, type: .any))
                literals += bytes
            case .capture(_, let type):
                steps.append(Step(isLiteral: false, start: 0, count: 0, type: type))
            }
        }
        program = PatternProgram(steps: steps, literals: literals)
        if case .literal(let first)? = segments.first { prefix = first } else { prefix = [] }
        captureNames = names
    }

    static func defaultType(for name: String) -> CaptureType {
        switch name {
        case "source_port", "pid", "logon_type", "count": .int
        case "user", "_": .any
        default: .word
        }
    }

    /// The captures when `message` matches, else nil. Values lose surrounding spaces
    /// (sshd writes `invalid user  0101` for the name " 0101").
    package func match(_ message: [UInt8]) -> [String: String]? {
        var ranges: [Range<Int>] = []
        let matched = message.withUnsafeBufferPointer { m in
            Captures.withStorage { captures in
                guard program.match(m, 0..<m.count, into: &captures) else { return false }
                ranges = (0..<captures.count).map { captures[$0] }
                return true
            }
        }
        guard matched else { return nil }
        var result: [String: String] = [:]
        for (name, range) in zip(slotNames, ranges) where name != "_" {
            result[name] = String(decoding: message[range], as: UTF8.self)
        }
        return result
    }

    /// Names of the capture slots, `_` included, in pattern order.
    var slotNames: [String] {
        segments.compactMap { if case .capture(let name, _) = $0 { name } else { nil } }
    }

    static func containsSpace(_ m: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        for i in r where m[i] == 0x20 { return true }
        return false
    }

    static func valid(_ m: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ type: CaptureType) -> Bool {
        switch type {
        case .any, .greedy: return true
        case .word: return !containsSpace(m, r)
        case .int:
            guard !r.isEmpty, r.count <= 18 else { return false }
            for i in r where m[i] < 0x30 || m[i] > 0x39 { return false }
            return true
        }
    }
}


/// A compiled pattern in memory of its own: steps and literal bytes in buffers that live as
/// long as the program, so matching touches no reference counts.
final class PatternProgram: Sendable {
    nonisolated(unsafe) let steps: UnsafeMutableBufferPointer<Pattern.Step>
    nonisolated(unsafe) let literals: UnsafeMutableBufferPointer<UInt8>

    init(steps: [Pattern.Step], literals: [UInt8]) {
        self.steps = .allocate(capacity: steps.count)
        _ = self.steps.initialize(from: steps)
        self.literals = .allocate(capacity: max(1, literals.count))
        _ = self.literals.initialize(from: literals)
    }

    deinit {
        steps.deallocate()
        literals.deallocate()
    }

    /// Matches `m[range]`; on success `captures` holds one trimmed range per capture slot.
    func match(_ m: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into captures: inout Captures) -> Bool {
        Self.match(m, range, steps: UnsafeBufferPointer(steps), literals: UnsafeBufferPointer(literals), into: &captures)
    }

    /// Matching over raw buffers (valid while their program lives), for the hot path.
    ///
    /// Matching is linear in the length of the text for every pattern. The backtracking
    /// matcher below is fastest on ordinary lines but can be made to try every occurrence of
    /// every literal after every capture (O(n^k) on crafted text), so it runs with a budget of
    /// work proportional to the text; a line that uses it up is matched again by
    /// `LinearMatcher`, which gives the same answer in O(steps * n) (times a literal's length).
    static func match(
        _ m: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, steps: UnsafeBufferPointer<Pattern.Step>,
        literals: UnsafeBufferPointer<UInt8>, into ranges: inout Captures
    ) -> Bool {
        ranges.count = 0
        let matcher = Matcher(m: m, end: range.upperBound, steps: steps, lits: literals)
        var budget = budget(for: range.count)
        var matched = matcher.match(step: 0, at: range.lowerBound, &ranges, &budget)
        if budget < 0 {
            ranges.count = 0
            matched = matchLinear(m, range, steps: steps, literals: literals, into: &ranges)
        }
        guard matched else { return false }
        trim(m, &ranges)
        return true
    }

    /// Work the backtracking matcher may do on `count` bytes before the linear one takes over:
    /// a few passes over the text, more than any ordinary line needs.
    static func budget(for count: Int) -> Int { 8 * count + 512 }

    /// The linear matcher alone (tests compare it with the backtracking one).
    static func matchLinear(
        _ m: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, steps: UnsafeBufferPointer<Pattern.Step>,
        literals: UnsafeBufferPointer<UInt8>, into ranges: inout Captures
    ) -> Bool {
        ranges.count = 0
        return LinearMatcher.withMatcher(m: m, range: range, steps: steps, lits: literals) { matcher in
            matcher.match(step: 0, at: range.lowerBound, &ranges)
        }
    }

    /// The backtracking matcher alone, without a budget (tests only: it is exponential on
    /// crafted text).
    static func matchBacktracking(
        _ m: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, steps: UnsafeBufferPointer<Pattern.Step>,
        literals: UnsafeBufferPointer<UInt8>, into ranges: inout Captures
    ) -> Bool {
        ranges.count = 0
        var budget = Int.max
        return Matcher(m: m, end: range.upperBound, steps: steps, lits: literals).match(step: 0, at: range.lowerBound, &ranges, &budget)
    }

    /// Captures lose the spaces around them.
    private static func trim(_ m: UnsafeBufferPointer<UInt8>, _ ranges: inout Captures) {
        for i in 0..<ranges.count {
            var r = ranges[i]
            while r.lowerBound < r.upperBound, m[r.lowerBound] == 0x20 { r = (r.lowerBound + 1)..<r.upperBound }
            while r.lowerBound < r.upperBound, m[r.upperBound - 1] == 0x20 { r = r.lowerBound..<(r.upperBound - 1) }
            ranges[i] = r
        }
    }

    /// Depth-first search over the places each capture may end, in the order that defines
    /// the answer (`any`, `word`, `int`: shortest first; `greedy`: longest first). `budget`
    /// is charged for every attempt and every byte scanned; below zero the search gives up
    /// (and returns false).
    private struct Matcher {
        let m: UnsafeBufferPointer<UInt8>
        let end: Int
        let steps: UnsafeBufferPointer<Pattern.Step>
        let lits: UnsafeBufferPointer<UInt8>

        func match(step: Int, at position: Int, _ ranges: inout Captures, _ budget: inout Int) -> Bool {
            budget &-= 1
            guard budget >= 0 else { return false }
            guard step < steps.count else { return position == end }
            let s = steps[step]
            if s.isLiteral {
                guard end - position >= s.count, equal(position, s) else { return false }
                return match(step: step + 1, at: position + s.count, &ranges, &budget)
            }
            guard step + 1 < steps.count else {
                // Last step: the capture takes the rest.
                if s.type != .any && s.type != .greedy { budget &-= end - position }
                guard Pattern.valid(m, position..<end, s.type) else { return false }
                ranges.append(position..<end)
                return true
            }
            let next = steps[step + 1]
            if s.type == .greedy {
                var found = findLast(next, from: position, end: end, &budget)
                while let f = found, budget >= 0 {
                    ranges.append(position..<f)
                    if match(step: step + 2, at: f + next.count, &ranges, &budget) { return true }
                    ranges.removeLast()
                    found = f > position ? findLast(next, from: position, end: f - 1 + next.count, &budget) : nil
                }
                return false
            }
            if s.type != .any, lits[next.start] == 0x20, let base = m.baseAddress {
                // A word or number ends at the first space: a literal that starts with one can
                // only begin there (no need to look for it further on).
                let space = memchr(base + position, 0x20, end - position).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) }
                budget &-= 2 * ((space ?? end) - position)
                guard let at = space, end - at >= next.count, equal(at, next), Pattern.valid(m, position..<at, s.type) else { return false }
                ranges.append(position..<at)
                if match(step: step + 2, at: at + next.count, &ranges, &budget) { return true }
                ranges.removeLast()
                return false
            }
            var from = position
            while budget >= 0, let found = find(next, from: from, &budget) {
                let r = position..<found
                if s.type != .any { budget &-= r.count }
                if !Pattern.valid(m, r, s.type) {
                    // Words and integers cannot grow past a space: no later end can fit.
                    if s.type != .any, Pattern.containsSpace(m, r) { return false }
                } else {
                    ranges.append(r)
                    if match(step: step + 2, at: found + next.count, &ranges, &budget) { return true }
                    ranges.removeLast()
                }
                from = found + 1
            }
            return false
        }

        @inline(__always)
        func equal(_ at: Int, _ s: Pattern.Step) -> Bool {
            PatternProgram.equal(m, at, s, lits)
        }

        /// First occurrence of the literal `s` starting in [from, end - count].
        func find(_ s: Pattern.Step, from start: Int, _ budget: inout Int) -> Int? {
            guard s.count > 0, end - start >= s.count else { return nil }
            let first = lits[s.start]
            guard let base = m.baseAddress else { return nil }
            var i = start
            let last = end - s.count
            // memchr finds the first byte (vectorised); then the rest is compared.
            while i <= last, let p = memchr(base + i, Int32(first), last - i + 1) {
                let at = UnsafeRawPointer(p) - UnsafeRawPointer(base)
                budget &-= at - i + 1
                if equal(at, s) { return at }
                i = at + 1
            }
            budget &-= last - i + 1
            return nil
        }

        /// Last occurrence of `s` that starts at or after `from` and ends by `limit`.
        func findLast(_ s: Pattern.Step, from start: Int, end limit: Int, _ budget: inout Int) -> Int? {
            guard s.count > 0, limit - start >= s.count else { return nil }
            let first = lits[s.start]
            var i = limit - s.count
            let ones: UInt64 = 0x0101_0101_0101_0101
            let pattern = UInt64(first) &* ones
            while i >= start {
                // Eight candidate places at a time: none holds the first byte, skip them all.
                if i - 7 >= start, let base = m.baseAddress {
                    let x = UnsafeRawPointer(base + i - 7).loadUnaligned(as: UInt64.self) ^ pattern
                    if (x &- ones) & ~x & 0x8080_8080_8080_8080 == 0 {
                        i -= 8
                        continue
                    }
                }
                if m[i] == first && equal(i, s) {
                    budget &-= limit - s.count - i + 1
                    return i
                }
                i -= 1
            }
            budget &-= limit - s.count - start + 1
            return nil
        }
    }

    @inline(__always)
    static func equal(_ m: UnsafeBufferPointer<UInt8>, _ at: Int, _ s: Pattern.Step, _ lits: UnsafeBufferPointer<UInt8>) -> Bool {
        guard at >= 0, at + s.count <= m.count, let text = m.baseAddress, let literal = lits.baseAddress else { return s.count == 0 && at >= 0 && at <= m.count }
        // Eight bytes at a time, then the rest.
        var i = 0
        while s.count - i >= 8 {
            let a = UnsafeRawPointer(text + at + i).loadUnaligned(as: UInt64.self)
            let b = UnsafeRawPointer(literal + s.start + i).loadUnaligned(as: UInt64.self)
            if a != b { return false }
            i += 8
        }
        while i < s.count {
            if text[at + i] != literal[s.start + i] { return false }
            i += 1
        }
        return true
    }

    /// The same search as `Matcher`, in time linear in the text: it remembers, per capture,
    /// the positions from which the rest of the pattern cannot match.
    ///
    /// Whether the pattern matches from (step, position) depends on nothing else, so a
    /// failed pair never needs trying again. A capture's failures also spread: where an `any`
    /// or `greedy` capture failed from q, every end at or after q failed, so a start before
    /// q need only try ends before q; a `word` that failed from q failed for every end up to
    /// the next space, so starts in the same run of non-spaces fail too. Each scan stops at
    /// the first position already known to fail and marks what it passed, so every position
    /// is scanned once per capture; an `int` tries at most 18 ends. Answers are the
    /// backtracking matcher's: only branches that cannot succeed are cut.
    private struct LinearMatcher {
        let m: UnsafeBufferPointer<UInt8>
        let start: Int
        let end: Int
        let steps: UnsafeBufferPointer<Pattern.Step>
        let lits: UnsafeBufferPointer<UInt8>
        /// One bit per (step, position in start...end): the rest fails from there.
        let failed: UnsafeMutableBufferPointer<UInt64>
        /// The last space in the text (or start - 1): a final `word` must start after it.
        let lastSpace: Int

        static func withMatcher<R>(
            m: UnsafeBufferPointer<UInt8>, range: Range<Int>, steps: UnsafeBufferPointer<Pattern.Step>,
            lits: UnsafeBufferPointer<UInt8>, _ body: (LinearMatcher) -> R
        ) -> R {
            let width = range.count + 1
            let words = (steps.count * width + 63) / 64
            let failed = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: max(1, words))
            failed.initialize(repeating: 0)
            defer { failed.deallocate() }
            var lastSpace = range.upperBound - 1
            while lastSpace >= range.lowerBound && m[lastSpace] != 0x20 { lastSpace -= 1 }
            return body(LinearMatcher(m: m, start: range.lowerBound, end: range.upperBound, steps: steps, lits: lits, failed: failed, lastSpace: lastSpace))
        }

        @inline(__always)
        private func bit(_ step: Int, _ position: Int) -> Int { step * (end - start + 1) + (position - start) }

        @inline(__always)
        func isFailed(_ step: Int, _ position: Int) -> Bool {
            let b = bit(step, position)
            return failed[b >> 6] & (1 << UInt64(b & 63)) != 0
        }

        @inline(__always)
        func markFailed(_ step: Int, _ positions: Range<Int>) {
            for p in positions {
                let b = bit(step, p)
                failed[b >> 6] |= 1 << UInt64(b & 63)
            }
        }

        func match(step: Int, at position: Int, _ ranges: inout Captures) -> Bool {
            guard step < steps.count else { return position == end }
            let s = steps[step]
            if s.isLiteral {
                guard end - position >= s.count, equal(m, position, s, lits) else { return false }
                return match(step: step + 1, at: position + s.count, &ranges)
            }
            guard step + 1 < steps.count else {
                let valid: Bool
                switch s.type {
                case .any, .greedy: valid = true
                case .word: valid = position > lastSpace
                case .int: valid = end - position <= 18 && Pattern.valid(m, position..<end, .int)
                }
                guard valid else { return false }
                ranges.append(position..<end)
                return true
            }
            guard !isFailed(step, position) else { return false }
            let next = steps[step + 1]
            let lastStart = end - next.count
            func attempt(_ f: Int, _ ranges: inout Captures) -> Bool {
                ranges.append(position..<f)
                if match(step: step + 2, at: f + next.count, &ranges) { return true }
                ranges.removeLast()
                return false
            }
            switch s.type {
            case .any:
                var q = position
                while q <= lastStart {
                    if q > position && isFailed(step, q) { break }
                    if equal(m, q, next, lits), attempt(q, &ranges) { return true }
                    q += 1
                }
                markFailed(step, position..<max(q, position + 1))
            case .greedy:
                var stop = position + 1
                while stop <= end && !isFailed(step, stop) { stop += 1 }
                var q = min(stop - 1, lastStart)
                while q >= position {
                    if equal(m, q, next, lits), attempt(q, &ranges) { return true }
                    q -= 1
                }
                markFailed(step, position..<stop)
            case .word:
                var q = position
                while q <= lastStart {
                    if q > position && isFailed(step, q) { break }
                    if equal(m, q, next, lits), attempt(q, &ranges) { return true }
                    if m[q] == 0x20 { q += 1; break }
                    q += 1
                }
                markFailed(step, position..<max(q, position + 1))
            case .int:
                var q = position + 1
                while q <= lastStart, q - position <= 18, m[q - 1] >= 0x30, m[q - 1] <= 0x39 {
                    if equal(m, q, next, lits), attempt(q, &ranges) { return true }
                    q += 1
                }
                markFailed(step, position..<(position + 1))
            }
            return false
        }
    }
}

/// Capture ranges in stack memory: no allocation per line.
struct Captures {
    let storage: UnsafeMutableBufferPointer<Range<Int>>
    var count = 0

    /// Runs `body` with room for `Pattern.maxCaptures` captures on the stack.
    static func withStorage<R>(_ body: (inout Captures) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: Pattern.maxCaptures) { buffer in
            var captures = Captures(storage: buffer)
            return try body(&captures)
        }
    }

    @inline(__always)
    mutating func append(_ r: Range<Int>) {
        storage[count] = r
        count += 1
    }

    @inline(__always)
    mutating func removeLast() { count -= 1 }

    subscript(i: Int) -> Range<Int> {
        get { storage[i] }
        nonmutating set { storage[i] = newValue }
    }
}

package struct PatternError: Error, CustomStringConvertible, Sendable {
    package let description: String
    init(_ description: String) { self.description = description }
}
