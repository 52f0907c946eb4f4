/// One event as a JSON object with the vocabulary's field names, in vocabulary order, absent
/// fields omitted. `extra` members (e.g. `input`, `line`) follow.
extension Event {
    public enum JSONValue: Sendable {
        case string(String)
        case int(Int64)
    }

    public func jsonObject(extra: [(String, JSONValue)] = []) -> String {
        var bytes: [UInt8] = []
        appendJSON(to: &bytes, extra: extra)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the JSON object's UTF-8 bytes to `out` (the fast path for many events: the
    /// edge's journal, `test-rules --json`). `kind` always comes first, so every other member
    /// is written with its separator and name in one copy.
    public func appendJSON(to out: inout [UInt8], extra: [(String, JSONValue)] = []) {
        @inline(__always) func put(_ s: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        }
        @inline(__always) func string(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            put(key)
            Self.appendQuoted(value, to: &out)
        }
        @inline(__always) func int(_ key: StaticString, _ value: Int64?) {
            guard let value else { return }
            put(key)
            Self.appendDecimal(value, to: &out)
        }
        put("{\"kind\": ")
        Self.appendQuoted(kind.rawValue, to: &out)
        string(", \"outcome\": ", outcome?.rawValue)
        if let timeMicroseconds {
            put(", \"time\": \"")
            SyslogTimestamp.appendISO8601UTC(microseconds: timeMicroseconds, to: &out)
            out.append(0x22)
        }
        string(", \"host\": ", host)
        string(", \"program\": ", program)
        int(", \"pid\": ", pid)
        string(", \"user\": ", user)
        string(", \"target_user\": ", targetUser)
        string(", \"group\": ", group)
        string(", \"source_ip\": ", sourceIP)
        int(", \"source_port\": ", sourcePort)
        string(", \"method\": ", method)
        int(", \"logon_type\": ", logonType)
        string(", \"rule\": ", rule)
        string(", \"severity\": ", severity?.rawValue)
        string(", \"raw\": ", raw)
        int(", \"count\": ", count)
        for (key, value) in extra {
            put(", ")
            Self.appendQuoted(key, to: &out)
            put(": ")
            switch value {
            case .string(let s): Self.appendQuoted(s, to: &out)
            case .int(let i): Self.appendDecimal(i, to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `n` in decimal, without making a String (JSON output, `edge test-rules`' report).
    public static func appendDecimal(_ n: Int64, to out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var v = n.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[23 - count] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
                v /= 10
                count += 1
            } while v > 0
            out.append(contentsOf: d[(24 - count)...])
        }
    }

    /// Appends `s` as a JSON string literal.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ appendQuoted(bytes: $0, to: &out) }) { return done }
        var copy = s
        copy.withUTF8 { appendQuoted(bytes: $0, to: &out) }
    }

    /// Appends UTF-8 `bytes` as a JSON string literal: the runs that need no escape in one
    /// copy each, and nothing allocated for an escape.
    public static func appendQuoted(bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        // Most text needs no escape: then it goes in one copy.
        guard needsEscape(bytes) else {
            out.append(contentsOf: bytes)
            out.append(0x22)
            return
        }
        var run = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F else { continue }
            if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i])) }
            run = i + 1
            out.append(0x5C)
            switch b {
            case 0x22, 0x5C: out.append(b)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(0x30)
                out.append(0x30)
                out.append(lowerHexDigits[Int(b >> 4)])
                out.append(lowerHexDigits[Int(b & 15)])
            }
        }
        if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
        out.append(0x22)
    }

    static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether any byte is a control (< 0x20, 0x7F), a quote or a backslash: eight bytes at a
    /// time (the classic "has a byte less than n / equal to c" word tricks, exact for the
    /// question "is there one"; bytes of 0x80 and above never count).
    static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        var i = 0
        while i + 8 <= bytes.count {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            if (w &- ones &* 0x20) & ~w & highs != 0 || hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5C))
                || hasZero(w ^ (ones &* 0x7F))
            {
                return true
            }
            i += 8
        }
        while i < bytes.count {
            let b = base[i]
            if b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { return true }
            i += 1
        }
        return false
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
