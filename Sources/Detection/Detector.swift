import Foundation
import WindowsEvents
import Wire

/// Turns log lines into events with a rule set.
package struct Detector: Sendable {
    package let rules: RuleSet
    /// For Windows events that forwarders (NXLog, Winlogbeat, Snare) send as syslog.
    let windows: WindowsDetector
    /// Whether a line no syslog rule takes is read as a forwarded Windows event. The relay's
    /// plain-syslog input and `edge test-rules` do; the edge's own log files do not (a local
    /// user who can write a line to syslog must not make the edge vouch for a Windows event).
    package var readsForwardedWindowsEvents = false
    /// The most a "message repeated N times" line may count (it becomes one event with
    /// `count` N, whatever N is: the cost does not grow with it).
    package static let maxRepeat = Int(Event.maxCount)

    package init(rules: RuleSet = .builtin) {
        self.rules = rules
        windows = WindowsDetector(rules: rules)
    }

    /// Detects in one log line of any supported format (BSD, RFC 3339, `<PRI>`-prefixed,
    /// RFC 5424). `parser` resolves BSD timestamps; `raw` defaults to the line.
    package func detect(line: some Collection<UInt8>, parser: SyslogParser, hostOverride: String? = nil) -> [Event] {
        if let events = line.withContiguousStorageIfAvailable({ detect(buffer: $0, parser: parser, hostOverride: hostOverride) }) {
            return events
        }
        return Array(line).withUnsafeBufferPointer { detect(buffer: $0, parser: parser, hostOverride: hostOverride) }
    }

    /// The edge's hot path: scan the line in place, and make Strings only for a match.
    package func detect(buffer: UnsafeBufferPointer<UInt8>, parser: SyslogParser, hostOverride: String? = nil) -> [Event] {
        guard let (event, _) = detectOne(buffer: buffer, parser: parser, hostOverride: hostOverride) else { return [] }
        return [event]
    }

    /// Like `detect(buffer:parser:)`, without building an array: the event (with `count`
    /// when a "message repeated N times" line stands for N), and that count.
    /// `defaultHost` names the host when the line carries no HOSTNAME (the relay passes the
    /// sender's address).
    package func detectOne(
        buffer: UnsafeBufferPointer<UInt8>, parser: SyslogParser, hostOverride: String? = nil, defaultHost: String? = nil
    ) -> (Event, Int)? {
        let found = scanAndDetect(buffer: buffer, parser: parser) { header, app, rule, ranges, repeats in
            func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: buffer[r]), as: UTF8.self) }
            var event = Self.makeEvent(
                rule, ranges, buffer, program: text(app), pid: header.pid(in: buffer),
                host: hostOverride ?? header.hostname.map(text) ?? defaultHost, time: header.timestamp?.microseconds,
                raw: String(decoding: buffer, as: UTF8.self))
            if repeats > 1 { event.count = Int64(repeats) }
            return (event, repeats)
        }
        if let found { return found }
        guard readsForwardedWindowsEvents else { return nil }
        return forwardedWindowsEvent(buffer: buffer, parser: parser, hostOverride: hostOverride, defaultHost: defaultHost).map { ($0, 1) }
    }

    static let snareTag = Array("MSWinEventLog".utf8)

    /// A Windows event a forwarder sent as syslog (NXLog or Winlogbeat JSON in the message,
    /// a Snare `MSWinEventLog` record), through the Windows rules. A line with neither a `{`
    /// nor Snare's tag costs one scan.
    package func forwardedWindowsEvent(buffer: UnsafeBufferPointer<UInt8>, parser: SyslogParser, hostOverride: String? = nil, defaultHost: String? = nil) -> Event? {
        guard readsForwardedWindowsEvents, !rules.windowsRules.isEmpty, let base = buffer.baseAddress else { return nil }
        let hasBrace = memchr(base, Int32(UInt8(ascii: "{")), buffer.count) != nil
        guard hasBrace || ByteSearch.contains(buffer, Self.snareTag) else { return nil }
        let header = parser.scan(buffer)
        let forwarded: WindowsEvent?
        if hasBrace, let parsed = ForwardedEvent.parse(UnsafeBufferPointer(rebasing: buffer[header.message])) {
            forwarded = parsed
        } else {
            forwarded = ForwardedEvent.parse(buffer)
        }
        guard let windowsEvent = forwarded, var event = windows.match(windowsEvent) else { return nil }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: buffer[r]), as: UTF8.self) }
        event.host = hostOverride ?? WindowsDetector.present(windowsEvent.computer) ?? header.hostname.map(text) ?? defaultHost
        if windowsEvent.timeMicroseconds == 0 { event.timeMicroseconds = header.timestamp?.microseconds }
        // The line as it came (the forwarder's text), not the record's summary.
        event.raw = Event.truncatedRaw(String(decoding: buffer, as: UTF8.self))
        return event
    }

    /// Detects in one log line like `detectOne`, and calls `body` with the match instead of
    /// building an event.
    package func withMatch<R>(buffer: UnsafeBufferPointer<UInt8>, parser: SyslogParser, _ body: (Match) -> R) -> R? {
        scanAndDetect(buffer: buffer, parser: parser) { _, _, rule, ranges, repeats in
            body(Match(rule: rule, ranges: ranges, text: buffer, repeats: repeats))
        }
    }

    /// Scans the line's syslog header in place and runs the rules of its program (the TAG
    /// without a path) on its message.
    private func scanAndDetect<R>(
        buffer: UnsafeBufferPointer<UInt8>, parser: SyslogParser, _ make: (SyslogHeader, Range<Int>, CompiledRule, Captures, Int) -> R
    ) -> R? {
        let header = parser.scan(buffer)
        guard let app = header.appName else { return nil }
        var programStart = app.lowerBound
        for i in app where buffer[i] == UInt8(ascii: "/") { programStart = i + 1 }
        let program = UnsafeBufferPointer(rebasing: buffer[programStart..<app.upperBound])
        return detect(program: program, text: buffer, range: header.message) { rule, ranges, repeats in
            make(header, app, rule, ranges, repeats)
        }
    }

    /// Detects in a parsed syslog message (the relay's plain syslog path).
    package func detect(_ message: SyslogMessage, raw: String, hostOverride: String? = nil) -> [Event] {
        detect(message, raw: { raw }, hostOverride: hostOverride)
    }

    func detect(_ message: SyslogMessage, raw: () -> String, hostOverride: String?) -> [Event] {
        let events = detectWithRules(message, raw: raw, hostOverride: hostOverride)
        guard events.isEmpty, readsForwardedWindowsEvents, !rules.windowsRules.isEmpty else { return events }
        // A forwarded Windows event: the whole line again, as the fast path reads it.
        var line = raw()
        let host = hostOverride ?? message.hostname
        return line.withUTF8 { buffer in
            guard var event = forwardedWindowsEvent(buffer: buffer, parser: SyslogParser(maxMessageBytes: 1 << 20), hostOverride: nil, defaultHost: host)
            else { return [] }
            if let t = message.timestamp?.microseconds, event.timeMicroseconds == nil { event.timeMicroseconds = t }
            return [event]
        }
    }

    private func detectWithRules(_ message: SyslogMessage, raw: () -> String, hostOverride: String?) -> [Event] {
        guard let app = message.appName else { return [] }
        return detect(
            program: app, pid: message.procID.flatMap { Int64($0) }, host: hostOverride ?? message.hostname,
            timeMicroseconds: message.timestamp?.microseconds, message: message.message, raw: raw)
    }

    /// Detects in a message whose fields are already known (journald, tests).
    package func detect(program: String, pid: Int64?, host: String?, timeMicroseconds: Int64?, message: String, raw: String) -> [Event] {
        detect(program: program, pid: pid, host: host, timeMicroseconds: timeMicroseconds, message: message, raw: { raw })
    }

    func detect(program: String, pid: Int64?, host: String?, timeMicroseconds: Int64?, message: String, raw: () -> String) -> [Event] {
        var message = message
        return message.withUTF8 { text in
            Self.normalised(program) { name in
                detect(program: name, text: text, range: 0..<text.count) { rule, ranges, repeats in
                    Self.event(rule, ranges, text, repeats: repeats, program: program, pid: pid, host: host, time: timeMicroseconds, raw: raw)
                }
            } ?? []
        }
    }

    /// The hot path: finds the first rule for `program` that matches `text[range]` (after
    /// trimming and unfolding "message repeated"), then calls `make` with the rule, its
    /// capture ranges and the repeat count. Nothing is allocated for lines no rule matches.
    func detect<R>(
        program: UnsafeBufferPointer<UInt8>, text: UnsafeBufferPointer<UInt8>, range: Range<Int>,
        make: (CompiledRule, Captures, Int) -> R
    ) -> R? {
        var r = Self.trim(text, range)
        var repeats = 1
        if let (count, inner) = Self.unfoldRepeat(text, r) {
            repeats = min(count, Self.maxRepeat)
            r = inner
        }
        if let inner = Self.afterMessageID(text, r) { r = inner }
        let available = min(8, r.count)
        let head = ProgramTable.pack(UnsafeBufferPointer(rebasing: text[r.lowerBound..<(r.lowerBound + available)]))
        return Captures.withStorage { ranges in
            var matched: ProgramTable.HotRule?
            rules.table.forEachRule(for: program, first: r.isEmpty ? nil : text[r.lowerBound]) { rule in
                guard rule.headCount <= available,
                    head & (rule.headCount == 8 ? ~0 : (1 << (8 * UInt64(rule.headCount))) - 1) == rule.head
                else { return false }
                if rule.prefixCount > 8 {
                    guard r.count >= rule.prefixCount, let base = text.baseAddress, let literals = rule.literals.baseAddress,
                        memcmp(base + r.lowerBound, literals, rule.prefixCount) == 0
                    else { return false }
                }
                if !rule.suffix.isEmpty {
                    guard r.count >= rule.suffix.count, let base = text.baseAddress, let literals = rule.literals.baseAddress,
                        memcmp(base + r.upperBound - rule.suffix.count, literals + rule.suffix.lowerBound, rule.suffix.count) == 0
                    else { return false }
                }
                guard PatternProgram.match(text, r, steps: rule.steps, literals: rule.literals, into: &ranges) else { return false }
                for slot in 0..<ranges.count where rule.required & (1 << UInt64(min(slot, 63))) != 0 && ranges[slot].isEmpty {
                    return false
                }
                matched = rule
                return true
            }
            guard let matched else { return nil }
            return make(rules.table.compiled[matched.index], ranges, repeats)
        }
    }

    static func event(
        _ rule: CompiledRule, _ ranges: Captures, _ text: UnsafeBufferPointer<UInt8>, repeats: Int,
        program: String, pid: Int64?, host: String?, time: Int64?, raw: () -> String
    ) -> [Event] {
        var event = makeEvent(rule, ranges, text, program: program, pid: pid, host: host, time: time, raw: raw())
        if repeats > 1 { event.count = Int64(repeats) }
        return [event]
    }

    static func makeEvent(
        _ rule: CompiledRule, _ ranges: Captures, _ text: UnsafeBufferPointer<UInt8>,
        program: String, pid: Int64?, host: String?, time: Int64?, raw: String
    ) -> Event {
        // The fields first, then the event in one piece (building it and then setting
        // fields made the optimizer copy it).
        var user: String?, targetUser: String?, group: String?, sourceIP: String?, method: String?
        var sourcePort: Int64?, logonType: Int64?
        Match.forEachField(rule, ranges, text) { field, value in
            switch field {
            case .user: user = value.string
            case .targetUser: targetUser = value.string
            case .group: group = value.string
            case .sourceIP: sourceIP = value.string
            case .sourcePort: sourcePort = value.int64
            case .method: method = value.string
            case .logonType: logonType = value.int64
            }
        }
        return Event(
            kind: rule.kind, outcome: rule.outcome, timeMicroseconds: time, host: host, program: program, pid: pid, user: user,
            targetUser: targetUser, group: group, sourceIP: sourceIP, sourcePort: sourcePort, method: method, logonType: logonType,
            rule: rule.id, severity: rule.severity, raw: raw)
    }

    /// A line's match, seen without building its event: for reports that print the event's
    /// fields straight from the line's bytes (`edge test-rules`). Valid only inside the
    /// closure it is given to.
    package struct Match {
        package enum Field: Sendable {
            case user, targetUser, group, sourceIP, sourcePort, method, logonType
        }

        /// A field's value: bytes of the line, or the rule's constant.
        package enum Value {
            case bytes(UnsafeBufferPointer<UInt8>)
            case constant(String)

            /// As the event would carry it (invalid UTF-8 replaced).
            package var string: String {
                switch self {
                case .bytes(let b): String(decoding: b, as: UTF8.self)
                case .constant(let s): s
                }
            }

            /// As `Int64(string)` reads it (a sign, then decimal digits, nil on overflow),
            /// from the bytes without making a String.
            package var int64: Int64? {
                switch self {
                case .bytes(let b): Self.decimal(b)
                case .constant(let s): Int64(s)
                }
            }

            static func decimal(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
                var i = 0
                var negative = false
                if let sign = b.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    negative = sign == UInt8(ascii: "-")
                    i = 1
                }
                guard i < b.count else { return nil }
                var value: Int64 = 0
                while i < b.count {
                    let digit = b[i] &- 0x30
                    guard digit < 10 else { return nil }
                    let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
                    let (next, o2) = negative ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
                    guard !o1, !o2 else { return nil }
                    value = next
                    i += 1
                }
                return value
            }
        }

        let rule: CompiledRule
        let ranges: Captures
        let text: UnsafeBufferPointer<UInt8>
        /// How many events the line stands for ("message repeated N times").
        package let repeats: Int

        package var kind: Event.Kind { rule.kind }
        package var outcome: Event.Outcome? { rule.outcome }
        package var severity: Event.Severity { rule.severity }
        package var ruleID: String { rule.id }

        /// Each field the event carries, in the order user, target user, group, source IP,
        /// source port, method, logon type: the first non-empty capture the rule names for
        /// it, else the rule's constant.
        package func forEachField(_ body: (Field, Value) -> Void) {
            Self.forEachField(rule, ranges, text, body)
        }

        @inline(__always)
        static func forEachField(_ rule: CompiledRule, _ ranges: Captures, _ text: UnsafeBufferPointer<UInt8>, _ body: (Field, Value) -> Void) {
            for a in rule.assignments {
                var value: Value?
                for slot in a.slots where !ranges[slot].isEmpty {
                    var bytes = UnsafeBufferPointer(rebasing: text[ranges[slot]])
                    // `[2001:db8::1]` (Dropbear since 2026.94, and others) is the address inside.
                    if a.field == .sourceIP, bytes.count > 2, bytes[0] == UInt8(ascii: "["), bytes[bytes.count - 1] == UInt8(ascii: "]") {
                        bytes = UnsafeBufferPointer(rebasing: bytes[1..<(bytes.count - 1)])
                    }
                    // A host name where an address may stand (sshd without UseDNS no, login's
                    // tty) is not a source IP; a program's placeholder is not a user.
                    switch a.field {
                    case .sourceIP where !isAddress(bytes): continue
                    case .user where isPlaceholder(bytes), .targetUser where isPlaceholder(bytes): continue
                    default: break
                    }
                    value = .bytes(bytes)
                    break
                }
                guard let value = value ?? a.constant.map(Value.constant) else { continue }
                body(a.field, value)
            }
        }
    }


    /// Whether `b` is written as an IPv4 or IPv6 address (`::ffff:192.0.2.1` and a `%zone`
    /// included), not a host name.
    static func isAddress(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !b.isEmpty, b.count <= 64 else { return false }
        var colons = 0, dots = 0, letters = false
        for c in b {
            switch c {
            case UInt8(ascii: ":"): colons += 1
            case UInt8(ascii: "."): dots += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"): break
            case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): letters = true
            case UInt8(ascii: "%"): return colons >= 2
            default: return false
            }
        }
        return colons >= 2 || (colons == 0 && dots == 3 && !letters)
    }

    static let placeholders: [[UInt8]] = ["UNKNOWN", "(unknown)", "unknown", "(null)"].map { Array($0.utf8) }

    /// Names programs write instead of a user they do not know (login's `UNKNOWN`).
    static func isPlaceholder(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        b.count <= 9 && placeholders.contains { $0.elementsEqual(b) }
    }

    static let solarisPrefix = Array("[ID ".utf8)

    /// Solaris and illumos write `[ID 800047 auth.info] ` between the tag and the message:
    /// the range after it, or nil.
    static func afterMessageID(_ t: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Range<Int>? {
        guard r.count > 8, t[r.lowerBound] == UInt8(ascii: "[") else { return nil }
        for (i, b) in solarisPrefix.enumerated() where t[r.lowerBound + i] != b { return nil }
        var i = r.lowerBound + solarisPrefix.count
        let digits = i
        while i < r.upperBound, t[i] >= 0x30, t[i] <= 0x39 { i += 1 }
        guard i > digits, i < r.upperBound, t[i] == 0x20 else { return nil }
        // facility.level: letters and one dot, then "] ".
        i += 1
        let label = i
        while i < r.upperBound, i - label < 24, t[i] != UInt8(ascii: "]") { i += 1 }
        guard i < r.upperBound, t[i] == UInt8(ascii: "]"), i > label else { return nil }
        return trim(t, (i + 1)..<r.upperBound)
    }

    /// `/usr/sbin/sshd` → `sshd`, as bytes.
    static func normalised<R>(_ program: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var p = program
        return p.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "/") { start = i + 1 }
            return body(UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    static func trim(_ t: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi, t[lo] == 0x20 || t[lo] == 0x09 { lo += 1 }
        while hi > lo {
            if t[hi - 1] == 0x20 || t[hi - 1] == 0x09 || t[hi - 1] == 0x0A || t[hi - 1] == 0x0D {
                hi -= 1
            } else if hi - lo >= 4, t[hi - 4] == UInt8(ascii: "#"), t[hi - 3] == 0x30, t[hi - 2] == 0x31, t[hi - 1] == 0x32 {
                // rsyslog writes a newline the program ended its message with as `#012`
                // (shadow's tools did, before 4.2).
                hi -= 4
            } else {
                break
            }
        }
        return lo..<hi
    }

    static let repeatedPrefix = Array("message repeated ".utf8)
    static let repeatedMiddle = Array(" times: [".utf8)

    /// "message repeated 5 times: [ X]" → (5, range of X).
    static func unfoldRepeat(_ t: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> (Int, Range<Int>)? {
        guard r.count > repeatedPrefix.count + repeatedMiddle.count + 2, t[r.lowerBound] == UInt8(ascii: "m") else { return nil }
        for (i, b) in repeatedPrefix.enumerated() where t[r.lowerBound + i] != b { return nil }
        var i = r.lowerBound + repeatedPrefix.count
        var count = 0
        var digits = 0
        while i < r.upperBound, t[i] >= 0x30, t[i] <= 0x39 {
            // Saturating at the most a count may say, however many digits are written.
            count = min(count * 10 + Int(t[i] - 0x30), maxRepeat)
            i += 1
            digits += 1
        }
        guard digits > 0, r.upperBound - i > repeatedMiddle.count, t[r.upperBound - 1] == UInt8(ascii: "]") else { return nil }
        for (j, b) in repeatedMiddle.enumerated() where t[i + j] != b { return nil }
        return (count, trim(t, (i + repeatedMiddle.count)..<(r.upperBound - 1)))
    }
}
