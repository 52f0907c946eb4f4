/// One event as a JSON object with the vocabulary's field names, in vocabulary order, absent
/// fields omitted. `extra` members (e.g. `input`, `line`) follow.
extension Event {
    public enum JSONValue: Sendable {
        case string(String)
        case int(Int64)
    }

    public func jsonObject(extra: [(String, JSONValue)] = []) -> String {
        var out = "{"
        var first = true
        func member(_ name: String, _ value: JSONValue?) {
            guard let value else { return }
            if !first { out += ", " }
            first = false
            out += "\"\(name)\": "
            switch value {
            case .string(let s): out += Self.quoted(s)
            case .int(let i): out += String(i)
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
        for (name, value) in extra { member(name, value) }
        return out + "}"
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
