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
public struct Pattern: Sendable, Hashable, CustomStringConvertible {
    enum CaptureType: String, Sendable, Hashable {
        case any, greedy, word, int
    }

    enum Segment: Sendable, Hashable {
        case literal([UInt8])
        case capture(name: String, type: CaptureType)
    }

    let segments: [Segment]
    public let description: String

    /// The literal the message must start with (possibly empty).
    let prefix: [UInt8]
    /// Names of the captures, in order.
    public let captureNames: [String]

    public init(_ text: String) throws {
        var segments: [Segment] = []
        var literal: [UInt8] = []
        var names: [String] = []
        var bytes = Array(text.utf8)[...]
        while let b = bytes.first {
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
        self.segments = segments
        self.description = text
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
    public func match(_ message: [UInt8]) -> [String: String]? {
        guard message.starts(with: prefix) else { return nil }
        var captures: [(String, Range<Int>)] = []
        captures.reserveCapacity(captureNames.count)
        guard match(message, segment: 0, at: 0, &captures) else { return nil }
        var result: [String: String] = [:]
        for (name, range) in captures where name != "_" {
            var slice = message[range]
            while slice.first == 0x20 { slice = slice.dropFirst() }
            while slice.last == 0x20 { slice = slice.dropLast() }
            result[name] = String(decoding: slice, as: UTF8.self)
        }
        return result
    }

    private func match(_ m: [UInt8], segment: Int, at position: Int, _ captures: inout [(String, Range<Int>)]) -> Bool {
        guard segment < segments.count else { return position == m.count }
        switch segments[segment] {
        case .literal(let lit):
            guard m.count - position >= lit.count, Self.equal(m, position, lit) else { return false }
            return match(m, segment: segment + 1, at: position + lit.count, &captures)
        case .capture(let name, let type):
            guard segment + 1 < segments.count, case .literal(let next) = segments[segment + 1] else {
                // Last segment: the capture takes the rest.
                guard Self.valid(m, position..<m.count, type) else { return false }
                captures.append((name, position..<m.count))
                return true
            }
            if type == .greedy {
                var ends: [Int] = []
                var from = position
                while let found = Self.find(next, in: m, from: from) {
                    ends.append(found)
                    from = found + 1
                }
                for found in ends.reversed() {
                    captures.append((name, position..<found))
                    if match(m, segment: segment + 2, at: found + next.count, &captures) { return true }
                    captures.removeLast()
                }
                return false
            }
            var end = position
            while let found = Self.find(next, in: m, from: end) {
                let range = position..<found
                if !Self.valid(m, range, type) {
                    // Words and integers cannot grow past a space: no later end can fit.
                    if type != .any, m[range].contains(0x20) { return false }
                } else {
                    captures.append((name, range))
                    if match(m, segment: segment + 2, at: found + next.count, &captures) { return true }
                    captures.removeLast()
                }
                end = found + 1
            }
            return false
        }
    }

    private static func equal(_ m: [UInt8], _ at: Int, _ lit: [UInt8]) -> Bool {
        for i in 0..<lit.count where m[at + i] != lit[i] { return false }
        return true
    }

    private static func find(_ lit: [UInt8], in m: [UInt8], from start: Int) -> Int? {
        guard let first = lit.first, m.count >= lit.count else { return nil }
        var i = start
        let last = m.count - lit.count
        while i <= last {
            if m[i] == first && equal(m, i, lit) { return i }
            i += 1
        }
        return nil
    }

    private static func valid(_ m: [UInt8], _ r: Range<Int>, _ type: CaptureType) -> Bool {
        switch type {
        case .any, .greedy: return true
        case .word: return !m[r].contains(0x20)
        case .int: return !r.isEmpty && r.count <= 18 && m[r].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
    }
}

public struct PatternError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
