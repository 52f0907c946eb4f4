public import Foundation

/// Parses syslog text: RFC 5424 strictly, RFC 3164 leniently, as receivers must.
///
/// `parse` never fails on RFC 3164 input (any bytes become at least a MSG); `parseRFC5424`
/// throws `WireError.syntax` with the offending position on anything the RFC's grammar
/// does not allow.
public struct SyslogParser: Sendable {
    /// Resolves BSD timestamps, which carry no year and no zone.
    public var yearInference: BSDYearInference
    /// Longest message accepted, in bytes; longer input is refused.
    public var maxMessageBytes: Int

    public init(yearInference: BSDYearInference, maxMessageBytes: Int = 65_536) {
        self.yearInference = yearInference
        self.maxMessageBytes = maxMessageBytes
    }

    /// A parser whose BSD timestamps resolve against now, in `timeZone`.
    public init(timeZone: TimeZone = .current, maxMessageBytes: Int = 65_536) {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        self.init(yearInference: BSDYearInference(referenceMicroseconds: now, timeZone: timeZone), maxMessageBytes: maxMessageBytes)
    }

    /// RFC 5424 when the text starts `<PRI>1 ` and parses as such, else RFC 3164.
    public func parse(_ bytes: some Collection<UInt8>) throws -> SyslogMessage {
        let array = Array(bytes)
        guard array.count <= maxMessageBytes else {
            throw WireError.oversized("syslog message of \(array.count) bytes exceeds \(maxMessageBytes)")
        }
        return array.withUnsafeBufferPointer { buffer in
            let header = scan(buffer)
            return header.message(in: buffer)
        }
    }

    /// Strict RFC 5424.
    public func parseRFC5424(_ bytes: some Collection<UInt8>) throws -> SyslogMessage {
        let array = Array(bytes)
        guard array.count <= maxMessageBytes else {
            throw WireError.oversized("syslog message of \(array.count) bytes exceeds \(maxMessageBytes)")
        }
        return try array.withUnsafeBufferPointer { buffer in
            try scanRFC5424(buffer, 0..<buffer.count).message(in: buffer)
        }
    }

    /// Parses without copying: the header's fields are ranges of `buffer`. RFC 5424 when the
    /// text starts `<PRI>1 ` and parses as such, else RFC 3164. Trailing LF, CR and NUL (as
    /// datagram senders add) are left out. No size check: callers bound their input.
    package func scan(_ buffer: UnsafeBufferPointer<UInt8>) -> SyslogHeader {
        var end = buffer.count
        while end > 0, buffer[end - 1] == 0x0A || buffer[end - 1] == 0x0D || buffer[end - 1] == 0x00 { end -= 1 }
        if Self.looksLike5424(buffer, end), let header = try? scanRFC5424(buffer, 0..<end) {
            return header
        }
        return scanRFC3164(buffer, 0..<end)
    }

    static func looksLike5424(_ b: UnsafeBufferPointer<UInt8>, _ end: Int) -> Bool {
        var c = Cursor(b, 0..<end)
        guard c.readOptionalPRI() != nil else { return false }
        return c.peek() == UInt8(ascii: "1") && c.peek(1) == 0x20
    }

    private func scanRFC5424(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws -> SyslogHeader {
        var c = Cursor(buffer, range)
        let pri = try c.readPRI()
        guard c.take(UInt8(ascii: "1")) else { throw c.error("VERSION must be 1") }
        try c.expectSpace("after VERSION")
        var header = SyslogHeader(format: .rfc5424, facility: pri / 8, severity: pri % 8)
        if !c.take(UInt8(ascii: "-")) {
            header.timestamp = try c.readRFC3339()
        }
        try c.expectSpace("after TIMESTAMP")
        header.hostname = try c.readHeaderField(maxLength: 255, "HOSTNAME")
        try c.expectSpace("after HOSTNAME")
        header.appName = try c.readHeaderField(maxLength: 48, "APP-NAME")
        try c.expectSpace("after APP-NAME")
        header.procID = try c.readHeaderField(maxLength: 128, "PROCID")
        try c.expectSpace("after PROCID")
        header.msgID = try c.readHeaderField(maxLength: 32, "MSGID")
        try c.expectSpace("after MSGID")
        if !c.take(UInt8(ascii: "-")) {
            guard c.peek() == UInt8(ascii: "[") else { throw c.error("STRUCTURED-DATA must be - or [") }
            while c.peek() == UInt8(ascii: "[") {
                header.structuredData.append(try c.readSDElement())
            }
        }
        if c.isAtEnd {
            header.message = c.index..<c.index
            return header
        }
        try c.expectSpace("before MSG")
        var start = c.index
        if range.upperBound - start >= 3, buffer[start] == 0xEF, buffer[start + 1] == 0xBB, buffer[start + 2] == 0xBF {
            header.hasBOM = true
            start += 3
        }
        header.message = start..<range.upperBound
        return header
    }

    /// RFC 3164 as real senders write it: `[<PRI>][TIMESTAMP SP [HOSTNAME SP]][TAG[PID]: ]MSG`,
    /// TIMESTAMP being `Mmm dd hh:mm:ss` or RFC 3339.
    private func scanRFC3164(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> SyslogHeader {
        var c = Cursor(buffer, range)
        var header = SyslogHeader(format: .rfc3164)
        if let pri = c.readOptionalPRI() {
            header.facility = pri / 8
            header.severity = pri % 8
        }
        let beforeTime = c
        if let bsd = c.readBSDTimestamp() {
            header.timestamp = yearInference
                .resolve(month: bsd.month, day: bsd.day, hour: bsd.hour, minute: bsd.minute, second: bsd.second)
                .map { SyslogTimestamp(microseconds: $0, utcOffsetSeconds: 0, fractionDigits: 0) }
        } else {
            c = beforeTime
            if let stamp = try? c.readRFC3339(), c.peek() == 0x20 {
                header.timestamp = stamp
            } else {
                c = beforeTime
            }
        }
        if c.index != beforeTime.index {
            _ = c.take(0x20)
            // The next word is the hostname unless it is already the TAG.
            let word = c.peekWord()
            if !word.isEmpty, !c.contains(UInt8(ascii: "["), in: word), buffer[word.upperBound - 1] != UInt8(ascii: ":"), c.hasSpaceAfterWord() {
                header.hostname = word
                c.skip(word.count)
                _ = c.take(0x20)
            }
        }
        if let tag = c.readTag() {
            header.appName = tag.program
            header.procID = tag.pid
        } else if c.index != beforeTime.index, let tag = c.readBareTag() {
            // RFC 3164 lets any non-alphanumeric character end the TAG: rsyslog's traditional
            // forwarding format writes `HOST sshd Failed password ...` for messages that
            // arrived as RFC 5424.
            header.appName = tag.program
            header.procID = tag.pid
        }
        header.message = c.index..<range.upperBound
        return header
    }
}

/// A parsed syslog header whose text fields are ranges of the scanned buffer, so hot paths
/// (the edge reading files, the relay's rules) make Strings only for what they keep.
package struct SyslogHeader: Sendable {
    package var format: SyslogMessage.Format
    package var facility: Int?
    package var severity: Int?
    package var timestamp: SyslogTimestamp?
    package var hostname: Range<Int>?
    package var appName: Range<Int>?
    package var procID: Range<Int>?
    package var msgID: Range<Int>?
    package var structuredData: [StructuredDataElement] = []
    /// MSG, after the BOM when there is one.
    package var message: Range<Int> = 0..<0
    package var hasBOM = false

    init(format: SyslogMessage.Format, facility: Int? = nil, severity: Int? = nil) {
        self.format = format
        self.facility = facility
        self.severity = severity
    }

    /// The message with its fields as Strings (invalid UTF-8 replaced by U+FFFD).
    package func message(in buffer: UnsafeBufferPointer<UInt8>) -> SyslogMessage {
        func text(_ r: Range<Int>?) -> String? { r.map { String(decoding: UnsafeBufferPointer(rebasing: buffer[$0]), as: UTF8.self) } }
        return SyslogMessage(
            format: format, facility: facility, severity: severity, timestamp: timestamp, hostname: text(hostname),
            appName: text(appName), procID: text(procID), msgID: text(msgID), structuredData: structuredData,
            message: text(message) ?? "", hasBOM: hasBOM)
    }

    /// PROCID as a number, when it is one.
    package func pid(in buffer: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let r = procID, !r.isEmpty, r.count <= 18 else { return nil }
        var value: Int64 = 0
        for i in r {
            let b = buffer[i]
            guard b >= 0x30, b <= 0x39 else { return nil }
            value = value * 10 + Int64(b - 0x30)
        }
        return value
    }
}

/// A cursor over syslog bytes with the grammar's small pieces.
struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let startIndex: Int
    let endIndex: Int
    var index: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        self.bytes = bytes
        startIndex = range.lowerBound
        endIndex = range.upperBound
        index = range.lowerBound
    }

    var isAtEnd: Bool { index >= endIndex }

    @inline(__always)
    func peek(_ ahead: Int = 0) -> UInt8? {
        let i = index + ahead
        return i < endIndex ? bytes[i] : nil
    }

    func contains(_ b: UInt8, in range: Range<Int>) -> Bool {
        for i in range where bytes[i] == b { return true }
        return false
    }

    @inline(__always)
    mutating func take(_ b: UInt8) -> Bool {
        guard peek() == b else { return false }
        index += 1
        return true
    }

    mutating func skip(_ n: Int) { index = min(endIndex, index + n) }

    func error(_ what: String) -> WireError {
        .syntax("\(what) at byte \(index - startIndex)")
    }

    mutating func expectSpace(_ what: String) throws {
        guard take(0x20) else { throw error("expected SP \(what)") }
    }

    @inline(__always)
    mutating func readDigits(min: Int, max: Int) -> Int? {
        var value = 0
        var n = 0
        while n < max, let b = peek(), b >= 0x30, b <= 0x39 {
            value = value * 10 + Int(b - 0x30)
            n += 1
            index += 1
        }
        return n >= min ? value : nil
    }

    /// A valid PRI, consumed; nil (nothing consumed, nothing allocated) otherwise.
    mutating func readOptionalPRI() -> Int? {
        guard peek() == UInt8(ascii: "<") else { return nil }
        let saved = index
        if let pri = try? readPRI() { return pri }
        index = saved
        return nil
    }

    /// `<PRIVAL>` with PRIVAL 0-191 in 1-3 digits, no leading zeros beyond "0".
    mutating func readPRI() throws -> Int {
        guard take(UInt8(ascii: "<")) else { throw error("PRI must start with <") }
        let digitsStart = index
        guard let value = readDigits(min: 1, max: 3), value <= 191 else { throw error("PRIVAL must be 0-191") }
        if index - digitsStart > 1 && bytes[digitsStart] == UInt8(ascii: "0") { throw error("PRIVAL has a leading zero") }
        guard take(UInt8(ascii: ">")) else { throw error("PRI must end with >") }
        return value
    }

    /// NILVALUE (nil) or 1*max PRINTUSASCII (its range).
    mutating func readHeaderField(maxLength: Int, _ name: String) throws -> Range<Int>? {
        let start = index
        while let b = peek(), b >= 33, b <= 126 { index += 1 }
        let length = index - start
        guard length >= 1 else { throw error("\(name) is empty") }
        guard length <= maxLength else { throw error("\(name) longer than \(maxLength)") }
        if length == 1 && bytes[start] == UInt8(ascii: "-") { return nil }
        return start..<index
    }

    /// FULL-DATE "T" FULL-TIME, RFC 5424 section 6.2.3 (fraction of at most 6 digits).
    mutating func readRFC3339() throws -> SyslogTimestamp {
        guard let year = readDigits(min: 4, max: 4), take(UInt8(ascii: "-")),
            let month = readDigits(min: 2, max: 2), take(UInt8(ascii: "-")),
            let day = readDigits(min: 2, max: 2)
        else { throw error("FULL-DATE") }
        guard take(UInt8(ascii: "T")) || take(UInt8(ascii: "t")) else { throw error("T between date and time") }
        guard let hour = readDigits(min: 2, max: 2), take(UInt8(ascii: ":")),
            let minute = readDigits(min: 2, max: 2), take(UInt8(ascii: ":")),
            let second = readDigits(min: 2, max: 2)
        else { throw error("PARTIAL-TIME") }
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: month, year: Int64(year)),
            hour <= 23, minute <= 59, second <= 59
        else { throw error("date or time out of range") }
        var micros = 0
        var digits = 0
        if take(UInt8(ascii: ".")) {
            while let b = peek(), b >= 0x30, b <= 0x39 {
                guard digits < 6 else { throw error("TIME-SECFRAC longer than 6 digits") }
                micros = micros * 10 + Int(b - 0x30)
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw error("TIME-SECFRAC without digits") }
            for _ in digits..<6 { micros *= 10 }
        }
        var offset = 0
        if take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) {
            offset = 0
        } else if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            index += 1
            guard let oh = readDigits(min: 2, max: 2), take(UInt8(ascii: ":")), let om = readDigits(min: 2, max: 2),
                oh <= 23, om <= 59
            else { throw error("TIME-NUMOFFSET") }
            offset = (oh * 3600 + om * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        } else {
            throw error("TIME-OFFSET")
        }
        let local = CivilDate.days(year: Int64(year), month: month, day: day) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
        return SyslogTimestamp(
            microseconds: (local - Int64(offset)) * 1_000_000 + Int64(micros),
            utcOffsetSeconds: Int32(offset), fractionDigits: digits)
    }

    /// SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]".
    mutating func readSDElement() throws -> StructuredDataElement {
        guard take(UInt8(ascii: "[")) else { throw error("SD-ELEMENT must start with [") }
        var element = StructuredDataElement(id: try readSDName("SD-ID"))
        while true {
            if take(UInt8(ascii: "]")) { return element }
            try expectSpace("before SD-PARAM")
            let name = try readSDName("PARAM-NAME")
            guard take(UInt8(ascii: "=")) else { throw error("= after PARAM-NAME") }
            guard take(0x22) else { throw error("\" before PARAM-VALUE") }
            element.parameters.append((name, try readParamValue()))
        }
    }

    /// SD-NAME = 1*32 PRINTUSASCII except '=', SP, ']', '"'.
    mutating func readSDName(_ what: String) throws -> String {
        let start = index
        while let b = peek(), b >= 33, b <= 126, b != UInt8(ascii: "="), b != UInt8(ascii: "]"), b != 0x22 {
            index += 1
        }
        guard index > start else { throw error("\(what) is empty") }
        guard index - start <= 32 else { throw error("\(what) longer than 32") }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// PARAM-VALUE up to the closing quote, undoing `\"`, `\\` and `\]`; any other
    /// backslash stays literal (RFC 5424 section 6.3.3).
    mutating func readParamValue() throws -> String {
        var out: [UInt8] = []
        while let b = peek() {
            index += 1
            switch b {
            case 0x22:
                guard let s = String(validating: out, as: UTF8.self) else { throw error("PARAM-VALUE is not UTF-8") }
                return s
            case 0x5C:
                if let next = peek(), next == 0x22 || next == 0x5C || next == UInt8(ascii: "]") {
                    out.append(next)
                    index += 1
                } else {
                    out.append(b)
                }
            default:
                out.append(b)
            }
        }
        throw error("PARAM-VALUE without closing quote")
    }

    /// `Mmm dd hh:mm:ss` (day space-padded or not); nil, consuming nothing useful, if absent.
    mutating func readBSDTimestamp() -> (month: Int, day: Int, hour: Int, minute: Int, second: Int)? {
        guard index + 3 <= endIndex, let month = Self.month(bytes, index) else { return nil }
        index += 3
        guard take(0x20) else { return nil }
        _ = take(0x20)
        guard let day = readDigits(min: 1, max: 2), (1...31).contains(day), take(0x20),
            let hour = readDigits(min: 2, max: 2), take(UInt8(ascii: ":")),
            let minute = readDigits(min: 2, max: 2), take(UInt8(ascii: ":")),
            let second = readDigits(min: 2, max: 2), hour <= 23, minute <= 59, second <= 60
        else { return nil }
        // Some senders add fractions (rsyslog's "high precision" off, but others): skip them.
        if peek() == UInt8(ascii: "."), let next = peek(1), next >= 0x30, next <= 0x39 {
            index += 1
            _ = readDigits(min: 1, max: 9)
        }
        return (month, day, hour, minute, min(second, 59))
    }

    /// Month number of the three letters at `i` (`Jan` = 1), or nil.
    static func month(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        let key = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
        switch key {
        case 0x4A616E: return 1  // Jan
        case 0x466562: return 2  // Feb
        case 0x4D6172: return 3  // Mar
        case 0x417072: return 4  // Apr
        case 0x4D6179: return 5  // May
        case 0x4A756E: return 6  // Jun
        case 0x4A756C: return 7  // Jul
        case 0x417567: return 8  // Aug
        case 0x536570: return 9  // Sep
        case 0x4F6374: return 10  // Oct
        case 0x4E6F76: return 11  // Nov
        case 0x446563: return 12  // Dec
        default: return nil
        }
    }

    func peekWord() -> Range<Int> {
        var end = index
        while end < endIndex, bytes[end] != 0x20 { end += 1 }
        return index..<end
    }

    func hasSpaceAfterWord() -> Bool {
        var end = index
        while end < endIndex, bytes[end] != 0x20 { end += 1 }
        return end < endIndex
    }

    /// `program[pid]:` or `program:` followed by an optional space. At most 48 bytes of
    /// program name, no spaces; nothing is consumed when the text has no such TAG.
    mutating func readTag() -> (program: Range<Int>, pid: Range<Int>?)? {
        let start = index
        var i = index
        while i < endIndex, i - start <= 48 {
            let b = bytes[i]
            if b == UInt8(ascii: ":") || b == UInt8(ascii: "[") || b == 0x20 { break }
            i += 1
        }
        guard i > start, i < endIndex, i - start <= 48 else { return nil }
        let program = start..<i
        var pid: Range<Int>?
        if bytes[i] == UInt8(ascii: "[") {
            let pidStart = i + 1
            var j = pidStart
            while j < endIndex, bytes[j] != UInt8(ascii: "]"), j - pidStart < 128 { j += 1 }
            guard j < endIndex, bytes[j] == UInt8(ascii: "]") else { return nil }
            pid = pidStart..<j
            i = j + 1
        }
        guard i < endIndex, bytes[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        if i < endIndex, bytes[i] == 0x20 { i += 1 }
        index = i
        return (program, pid)
    }

    /// A TAG ended by a space rather than a colon: 1-32 characters of letters, digits and
    /// `-_./`, optionally with `[pid]`, then a space.
    mutating func readBareTag() -> (program: Range<Int>, pid: Range<Int>?)? {
        let start = index
        var i = index
        while i < endIndex, i - start < 32 {
            let b = bytes[i]
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x2F
            if !ok { break }
            i += 1
        }
        guard i > start, i < endIndex else { return nil }
        let program = start..<i
        var pid: Range<Int>?
        if bytes[i] == UInt8(ascii: "[") {
            let pidStart = i + 1
            var j = pidStart
            while j < endIndex, bytes[j] >= 0x30, bytes[j] <= 0x39, j - pidStart < 20 { j += 1 }
            guard j > pidStart, j < endIndex, bytes[j] == UInt8(ascii: "]") else { return nil }
            pid = pidStart..<j
            i = j + 1
        }
        guard i < endIndex, bytes[i] == 0x20 else { return nil }
        index = i + 1
        return (program, pid)
    }
}
