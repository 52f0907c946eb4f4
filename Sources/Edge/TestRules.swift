import Detection
import Foundation
import Wire

/// `edge test-rules`: runs the rules over log files and reports every event.
public struct RuleTester {
    public var detector: Detector
    public var json: Bool
    public var timeZone: TimeZone

    public init(detector: Detector, json: Bool, timeZone: TimeZone = .current) {
        self.detector = detector
        self.json = json
        self.timeZone = timeZone
    }

    /// Reads `path` (`-` for standard input) line by line and writes each event to `output`.
    /// BSD timestamps take their year from the file's modification time.
    /// - Returns: lines read and events found.
    @discardableResult
    public func run(path: String, output: (String) -> Void) throws -> (lines: Int, events: Int) {
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
        var lines = LineSplitter()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            lines.append(chunk)
            while let line = lines.next() {
                lineNumber += 1
                events += report(line, number: lineNumber, path: path, parser: parser, output: output)
            }
        }
        if let last = lines.finish() {
            lineNumber += 1
            events += report(last, number: lineNumber, path: path, parser: parser, output: output)
        }
        return (lineNumber, events)
    }

    private func report(_ line: ArraySlice<UInt8>, number: Int, path: String, parser: SyslogParser, output: (String) -> Void) -> Int {
        let events = detector.detect(line: line, parser: parser)
        for e in events {
            if json {
                output(e.jsonObject(extra: [("input", .string(path)), ("line", .int(Int64(number)))]))
            } else {
                output("\(path):\(number): " + Self.describe(e))
            }
        }
        return events.count
    }

    static func describe(_ e: Event) -> String {
        var parts = [e.kind.rawValue]
        if let o = e.outcome { parts.append(o.rawValue) }
        for (name, value) in [
            ("user", e.user), ("target", e.targetUser), ("group", e.group), ("from", e.sourceIP),
            ("port", e.sourcePort.map(String.init)), ("method", e.method), ("severity", e.severity?.rawValue), ("rule", e.rule),
        ] {
            if let value { parts.append("\(name)=\(value)") }
        }
        return parts.joined(separator: " ")
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
        guard let lf = buffer[start...].firstIndex(of: 0x0A) else { return nil }
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

public struct EdgeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
