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
    /// edge's journal, `test-rules --json`).
    public func appendJSON(to out: inout [UInt8], extra: [(String, JSONValue)] = []) {
        appendJSONMembers(to: &out)
        for (key, value) in extra {
            out.append(contentsOf: ", ".utf8)
            Self.appendQuoted(key, to: &out)
            out.append(contentsOf: ": ".utf8)
            switch value {
            case .string(let s): Self.appendQuoted(s, to: &out)
            case .int(let i): Self.appendDecimal(i, to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The object without its closing brace, for a caller that adds members of its own
    /// (`edge test-rules` adds the input and line, encoded once per file): the room is
    /// reserved once and the text written in place. `kind` always comes first, so every
    /// other member is written with its separator and name in one copy.
    public func appendJSONMembers(to out: inout [UInt8]) {
        // Room: the names and punctuation (under 256 bytes), each string escaped at worst,
        // each number at its longest.
        @inline(__always) func room(_ s: String?) -> Int { s.map { JSONWriter.bound(quoting: $0.utf8.count) } ?? 0 }
        let bound = 256 + 48 + 4 * JSONWriter.decimalBound + room(kind.rawValue) + room(outcome?.rawValue) + room(host)
            + room(program) + room(user) + room(targetUser) + room(group) + room(sourceIP) + room(method) + room(rule)
            + room(severity?.rawValue) + room(raw)
        out.appendJSON(bound: bound) { w in writeJSONMembers(to: &w) }
    }

    private func writeJSONMembers(to w: inout JSONWriter) {
        @inline(__always) func string(_ key: StaticString, _ value: String?, _ w: inout JSONWriter) {
            guard let value else { return }
            w.raw(key)
            w.quoted(value)
        }
        @inline(__always) func int(_ key: StaticString, _ value: Int64?, _ w: inout JSONWriter) {
            guard let value else { return }
            w.raw(key)
            w.decimal(value)
        }
        w.raw("{\"kind\": ")
        w.quoted(kind.rawValue)
        string(", \"outcome\": ", outcome?.rawValue, &w)
        if let timeMicroseconds {
            w.raw(", \"time\": \"")
            SyslogTimestamp.writeISO8601UTC(microseconds: timeMicroseconds, to: &w)
            w.byte(0x22)
        }
        string(", \"host\": ", host, &w)
        string(", \"program\": ", program, &w)
        int(", \"pid\": ", pid, &w)
        string(", \"user\": ", user, &w)
        string(", \"target_user\": ", targetUser, &w)
        string(", \"group\": ", group, &w)
        string(", \"source_ip\": ", sourceIP, &w)
        int(", \"source_port\": ", sourcePort, &w)
        string(", \"method\": ", method, &w)
        int(", \"logon_type\": ", logonType, &w)
        string(", \"rule\": ", rule, &w)
        string(", \"severity\": ", severity?.rawValue, &w)
        string(", \"raw\": ", raw, &w)
        int(", \"count\": ", count, &w)
    }

    /// `n` in decimal, without making a String (JSON output, `edge test-rules`' report).
    public static func appendDecimal(_ n: Int64, to out: inout [UInt8]) {
        out.appendJSON(bound: JSONWriter.decimalBound) { $0.decimal(n) }
    }

    /// Appends `s` as a JSON string literal.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.appendJSON(bound: JSONWriter.bound(quoting: s.utf8.count)) { $0.quoted(s) }
    }

    /// Appends UTF-8 `bytes` as a JSON string literal (RFC 8259): quotes, backslashes,
    /// controls and DEL escaped, everything else as it is.
    public static func appendQuoted(bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.appendJSON(bound: JSONWriter.bound(quoting: bytes.count)) { $0.quoted(bytes: bytes) }
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
