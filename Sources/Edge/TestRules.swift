import Detection
import Foundation
import Platform
import WindowsEvents
import Wire

/// `edge test-rules`: runs the rules over log files and reports every event.
package struct RuleTester {
    package var detector: Detector
    package var json: Bool
    package var timeZone: TimeZone

    package init(detector: Detector, json: Bool, timeZone: TimeZone = .current) {
        self.detector = detector
        self.json = json
        self.timeZone = timeZone
    }

    /// Reads `path` (`-` for standard input) line by line and appends each event, one line
    /// each, to `output`, calling `flush` whenever it holds 64 KiB or more. BSD timestamps
    /// take their year from the file's modification time.
    /// - Returns: lines read and events found.
    @discardableResult
    package func run(path: String, output: inout [UInt8], flush: (inout [UInt8]) -> Void) throws -> (lines: Int, events: Int) {
        if path != "-", let windows = try runWindows(path: path, output: &output, flush: flush) { return windows }
        let reference: Date
        let handle: FileHandle
        if path == "-" {
            reference = Date()
            handle = .standardInput
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { throw EdgeError("cannot open \(path)") }
            handle = h
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            reference = (attributes?[.modificationDate] as? Date) ?? Date()
        }
        defer { if path != "-" { try? handle.close() } }
        let parser = SyslogParser(
            yearInference: BSDYearInference(referenceMicroseconds: Int64(reference.timeIntervalSince1970 * 1e6), timeZone: timeZone),
            maxMessageBytes: 1 << 20)
        var lineNumber = 0
        var events = 0
        let pathBytes = Array(path.utf8)
        let jsonTail = Self.jsonTail(path: path)
        // A regular file is mapped and scanned in place: no copies.
        if path != "-", let mapped = MappedFile(path: path) {
            defer { mapped.unmap() }
            let bytes = mapped.bytes
            var start = 0
            while start < bytes.count {
                var end = start
                if let base = bytes.baseAddress, let p = memchr(base + start, 0x0A, bytes.count - start) {
                    end = UnsafeRawPointer(p) - UnsafeRawPointer(base)
                } else {
                    end = bytes.count
                }
                var lineEnd = end
                if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                lineNumber += 1
                events += report(UnsafeBufferPointer(rebasing: bytes[start..<lineEnd]), number: lineNumber, path: path, pathBytes: pathBytes,
                                 parser: parser, jsonTail: jsonTail, output: &output)
                if output.count >= 1 << 16 { flush(&output) }
                start = end + 1
            }
            return (lineNumber, events)
        }
        var lines = LineSplitter()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            lines.append(chunk)
            while let line = lines.next() {
                lineNumber += 1
                events += line.withUnsafeBufferPointer { report($0, number: lineNumber, path: path, pathBytes: pathBytes, parser: parser, jsonTail: jsonTail, output: &output) }
                if output.count >= 1 << 16 { flush(&output) }
            }
        }
        if let last = lines.finish() {
            lineNumber += 1
            events += last.withUnsafeBufferPointer { report($0, number: lineNumber, path: path, pathBytes: pathBytes, parser: parser, jsonTail: jsonTail, output: &output) }
        }
        return (lineNumber, events)
    }

    /// `, "input": "PATH", "line": `: what every JSON line of one file ends with, but the
    /// number and the brace.
    static func jsonTail(path: String) -> [UInt8] {
        var tail = Array(#", "input": "#.utf8)
        Event.appendQuoted(path, to: &tail)
        tail += Array(#", "line": "#.utf8)
        return tail
    }

    private func report(
        _ line: UnsafeBufferPointer<UInt8>, number: Int, path: String, pathBytes: [UInt8], parser: SyslogParser, jsonTail: [UInt8],
        output: inout [UInt8]
    ) -> Int {
        if json {
            guard let (e, _) = detector.detectOne(buffer: line, parser: parser) else { return 0 }
            e.appendJSONMembers(to: &output)
            output.append(contentsOf: jsonTail)
            Event.appendDecimal(Int64(number), to: &output)
            output.append(contentsOf: "}\n".utf8)
            return 1
        }
        // The text report prints the event's fields, taken straight from the line.
        return detector.withMatch(buffer: line, parser: parser) { match in
            output.append(contentsOf: pathBytes)
            output.append(UInt8(ascii: ":"))
            Event.appendDecimal(Int64(number), to: &output)
            output.append(UInt8(ascii: ":"))
            output.append(0x20)
            Self.describe(match, into: &output)
            if match.repeats > 1 {
                output.append(contentsOf: Array(" count=".utf8))
                Event.appendDecimal(Int64(match.repeats), to: &output)
            }
            output.append(0x0A)
            return 1
        } ?? forwardedWindows(line, number: number, pathBytes: pathBytes, parser: parser, output: &output)
    }

    /// A forwarded Windows event (NXLog, Winlogbeat, Snare) on a line no syslog rule takes.
    private func forwardedWindows(
        _ line: UnsafeBufferPointer<UInt8>, number: Int, pathBytes: [UInt8], parser: SyslogParser, output: inout [UInt8]
    ) -> Int {
        guard let event = detector.forwardedWindowsEvent(buffer: line, parser: parser) else { return 0 }
        output.append(contentsOf: pathBytes)
        output.append(UInt8(ascii: ":"))
        Event.appendDecimal(Int64(number), to: &output)
        output.append(contentsOf: ": ".utf8)
        Self.describe(event, into: &output)
        output.append(0x0A)
        return 1
    }

    /// EVTX files (by their signature) and event XML (a file whose first text is `<`, with an
    /// `<Event` in it): every record through the Windows rules, `line` being the record id
    /// (for XML without one, the event's position). Nil for other files.
    func runWindows(path: String, output: inout [UInt8], flush: (inout [UInt8]) -> Void) throws -> (lines: Int, events: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw EdgeError("cannot open \(path)") }
        let head = (try? handle.read(upToCount: 4096)) ?? Data()
        try? handle.close()
        var windows = WindowsDetector(rules: detector.rules)
        let jsonTail = Self.jsonTail(path: path)
        var records = 0
        var events = 0
        func report(_ record: WindowsEvent, number: Int) {
            records += 1
            guard let event = windows.detect(record) else { return }
            events += 1
            if json {
                event.appendJSONMembers(to: &output)
                output.append(contentsOf: jsonTail)
                Event.appendDecimal(Int64(number), to: &output)
                output.append(UInt8(ascii: "}"))
            } else {
                output.append(contentsOf: "\(path):\(number): ".utf8)
                Self.describe(event, into: &output)
            }
            output.append(0x0A)
            if output.count >= 1 << 16 { flush(&output) }
        }
        if head.starts(with: Array("ElfFile\0".utf8)) {
            try EvtxFile(path: path).forEachEvent { report($0, number: Int(truncatingIfNeeded: $0.recordID)) }
            return (records, events)
        }
        var text = head[...]
        if text.starts(with: [0xEF, 0xBB, 0xBF]) { text = text.dropFirst(3) }
        guard let first = text.first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == UInt8(ascii: "-")) }),
              first == UInt8(ascii: "<"), Self.contains(text, "<Event") || Self.contains(text, "<?xml"),
              let mapped = MappedFile(path: path)
        else { return nil }
        defer { mapped.unmap() }
        var damaged = 0
        var ordinal = 0
        let reader = EventXMLReader()
        var isEventXML = false
        reader.forEachEvent(in: mapped.bytes, damaged: &damaged) { record in
            isEventXML = true
            ordinal += 1
            report(record, number: record.recordID > 0 ? Int(truncatingIfNeeded: record.recordID) : ordinal)
        }
        return isEventXML || damaged > 0 ? (records, events) : nil
    }

    static func contains(_ data: Data.SubSequence, _ literal: String) -> Bool {
        Array(data).withUnsafeBufferPointer { ByteSearch.contains($0, Array(literal.utf8)) }
    }

    /// `describe(_:into:)` for an event already made (Windows events).
    static func describe(_ e: Event, into out: inout [UInt8]) {
        var text = e.kind.rawValue
        if let o = e.outcome { text += " " + o.rawValue }
        if let v = e.user { text += " user=" + TerminalText.safe(v) }
        if let v = e.targetUser { text += " target=" + TerminalText.safe(v) }
        if let v = e.group { text += " group=" + TerminalText.safe(v) }
        if let v = e.sourceIP { text += " from=" + TerminalText.safe(v) }
        if let v = e.sourcePort { text += " port=\(v)" }
        if let v = e.method { text += " method=" + TerminalText.safe(v) }
        if let v = e.logonType { text += " logon_type=\(v)" }
        text += " severity=" + (e.severity ?? .info).rawValue
        if let r = e.rule { text += " rule=" + r }
        out.append(contentsOf: text.utf8)
    }

    /// `kind outcome user=… target=… group=… from=… port=… method=… severity=… rule=…`,
    /// each field only when the event has it.
    static func describe(_ m: Detector.Match, into out: inout [UInt8]) {
        func put(_ s: String) {
            var s = s
            s.withUTF8 { out.append(contentsOf: $0) }
        }
        func name(_ n: StaticString) {
            out.append(0x20)
            out.append(contentsOf: UnsafeBufferPointer(start: n.utf8Start, count: n.utf8CodeUnitCount))
            out.append(UInt8(ascii: "="))
        }
        put(m.kind.rawValue)
        if let o = m.outcome {
            out.append(0x20)
            put(o.rawValue)
        }
        m.forEachField { field, value in
            switch field {
            case .user: name("user")
            case .targetUser: name("target")
            case .group: name("group")
            case .sourceIP: name("from")
            case .sourcePort:
                // Printed as the number the event carries (nothing when it is not one).
                guard let port = value.int64 else { return }
                name("port")
                Event.appendDecimal(port, to: &out)
                return
            case .method: name("method")
            case .logonType: return
            }
            switch value {
            case .bytes(let b) where !b.contains(where: { $0 >= 0x80 }):
                out.append(contentsOf: b)
            default:
                put(value.string)  // as the event's String has it: invalid UTF-8 replaced
            }
        }
        name("severity")
        put(m.severity.rawValue)
        name("rule")
        put(m.ruleID)
    }
}

/// Splits bytes into lines (LF, a CR before it dropped), holding at most one partial line.
struct LineSplitter {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ data: Data) {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: data)
    }

    mutating func next() -> ArraySlice<UInt8>? {
        let found: Int? = buffer.withUnsafeBufferPointer { b in
            guard start < b.count, let base = b.baseAddress,
                let p = memchr(base + start, 0x0A, b.count - start)
            else { return nil }
            return UnsafeRawPointer(p) - UnsafeRawPointer(base)
        }
        guard let lf = found else { return nil }
        var end = lf
        if end > start, buffer[end - 1] == 0x0D { end -= 1 }
        defer { start = lf + 1 }
        return buffer[start..<end]
    }

    mutating func finish() -> ArraySlice<UInt8>? {
        guard start < buffer.count else { return nil }
        defer { start = buffer.count }
        return buffer[start...]
    }
}

package struct EdgeError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
