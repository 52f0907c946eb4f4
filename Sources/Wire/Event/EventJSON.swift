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

    /// Appends the JSON object's UTF-8 bytes to `out` (the fast path for many events).
    public func appendJSON(to out: inout [UInt8], extra: [(String, JSONValue)] = []) {
        var first = true
        out.append(UInt8(ascii: "{"))
        func member(_ name: StaticString, _ value: JSONValue?) {
            guard let value else { return }
            if !first { out.append(contentsOf: [UInt8(ascii: ","), 0x20]) }
            first = false
            out.append(0x22)
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [0x22, UInt8(ascii: ":"), 0x20])
            switch value {
            case .string(let s): Self.appendQuoted(s, to: &out)
            case .int(let i): out.append(contentsOf: String(i).utf8)
            }
        }
        member("kind", .string(kind.rawValue))
        member("outcome", outcome.map { .string($0.rawValue) })
        member("time", time.map { .string($0) })
        member("host", host.map { .string($0) })
        member("program", program.map { .string($0) })
        member("pid", pid.map { .int($0) })
        member("user", user.map { .string($0) })
        member("target_user", targetUser.map { .string($0) })
        member("group", group.map { .string($0) })
        member("source_ip", sourceIP.map { .string($0) })
        member("source_port", sourcePort.map { .int($0) })
        member("method", method.map { .string($0) })
        member("logon_type", logonType.map { .int($0) })
        member("rule", rule.map { .string($0) })
        member("severity", severity.map { .string($0.rawValue) })
        member("raw", raw.map { .string($0) })
        member("count", count.map { .int($0) })
        for (name, value) in extra {
            if !first { out.append(contentsOf: [UInt8(ascii: ","), 0x20]) }
            first = false
            Self.appendQuoted(name, to: &out)
            out.append(contentsOf: [UInt8(ascii: ":"), 0x20])
            switch value {
            case .string(let s): Self.appendQuoted(s, to: &out)
            case .int(let i): out.append(contentsOf: String(i).utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `s` as a JSON string literal.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        // Most text needs no escape: then it goes in one copy, not byte by byte.
        if let plain = s.utf8.withContiguousStorageIfAvailable({ bytes -> Bool in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }), plain {
            out.append(0x22)
            return
        }
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
