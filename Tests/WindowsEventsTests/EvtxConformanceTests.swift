import Foundation
import Testing

@testable import WindowsEvents

/// The EVTX reader against ../shared/testdata/evtx (skipped, with a message, when absent):
/// the reference parser's counts per file (MANIFEST.json, from PyPI `evtx` 0.14.0), and the
/// records of the Rust `evtx` crate's snapshots, field by field.
@Suite("EVTX conformance")
struct EvtxConformanceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("MANIFEST.json").path) }

    struct Expected {
        var records: Int
        var recordErrors: Int
        var eventIDs: [String: Int]
    }

    static func manifest() throws -> [String: Expected] {
        let data = try Data(contentsOf: root.appendingPathComponent("MANIFEST.json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let files = object["files"] as! [String: [String: Any]]
        return files.mapValues { v in
            Expected(records: v["records"] as! Int, recordErrors: v["record_errors"] as! Int, eventIDs: v["event_ids"] as! [String: Int])
        }
    }

    /// Every file: the record count and the count per `Channel:EventID` equal the reference's.
    /// Files where the reference itself failed records are reported apart and must agree on
    /// the count of records read.
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent: EVTX conformance skipped"))
    func everyFileAgreesWithTheReferenceCounts() async throws {
        let manifest = try Self.manifest()
        #expect(manifest.count >= 300)
        var perSet: [String: (agree: Int, files: Int)] = [:]
        var disagreements: [String] = []
        var apart: [String] = []
        var totalRecords = 0
        for (path, expected) in manifest.sorted(by: { $0.key < $1.key }) {
            var counts: [String: Int] = [:]
            var records = 0
            let statistics = try EvtxFile(path: Self.root.appendingPathComponent(path).path).forEachEvent { event in
                records += 1
                // The reference writes a record without a Channel as "None".
                counts["\(event.channel.isEmpty ? "None" : event.channel):\(event.eventID)", default: 0] += 1
            }
            #expect(statistics.records == records)
            totalRecords += records
            let agrees = records == expected.records && counts == expected.eventIDs
            let set = String(path.prefix { $0 != "/" })
            if expected.recordErrors > 0 {
                apart.append("\(path): ours \(records), reference \(expected.records) (+\(expected.recordErrors) it failed); "
                    + "damaged chunks \(statistics.damagedChunks), records \(statistics.damagedRecords)")
                #expect(records == expected.records, "\(path)")
                continue
            }
            perSet[set, default: (0, 0)].files += 1
            if agrees {
                perSet[set, default: (0, 0)].agree += 1
            } else {
                let keys = Set(counts.keys).union(expected.eventIDs.keys).filter { counts[$0] != expected.eventIDs[$0] }.sorted()
                disagreements.append("\(path): \(records) vs \(expected.records); " + keys.prefix(5).map { "\($0) \(counts[$0] ?? 0) vs \(expected.eventIDs[$0] ?? 0)" }.joined(separator: ", "))
            }
            await Task.yield()
        }
        for (set, result) in perSet.sorted(by: { $0.key < $1.key }) {
            print("EVTX agreement, \(set): \(result.agree)/\(result.files) files")
        }
        print("EVTX: \(totalRecords) records read; files the reference itself failed on, reported apart:\n  " + apart.joined(separator: "\n  "))
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(totalRecords > 30_000)
    }

    /// `read-evtx --json` writes values straight from the file's bytes; what it writes is
    /// byte for byte what the events' own JSON is, on every sample (every value type, damage,
    /// text outside ASCII).
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent: EVTX JSON skipped"))
    func jsonFromTheBytesEqualsJSONFromTheEvents() async throws {
        let files = FileManager.default.enumerator(atPath: Self.root.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".evtx") }
        var compared = 0
        for file in files {
            let evtx = try EvtxFile(path: Self.root.appendingPathComponent(file).path)
            var direct: [UInt8] = []
            try evtx.appendJSONLines(to: &direct) { _ in }
            var viaEvents: [UInt8] = []
            try evtx.forEachEvent { event in
                event.appendJSON(to: &viaEvents)
                viaEvents.append(0x0A)
            }
            let same = direct == viaEvents
            #expect(same, "\(file)")
            if !same {
                let a = String(decoding: direct, as: UTF8.self).split(separator: "\n")
                let b = String(decoding: viaEvents, as: UTF8.self).split(separator: "\n")
                if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                    Issue.record("first difference, line \(i + 1):\n\(a[i].prefix(600))\n\(b[i].prefix(600))")
                }
                break
            }
            compared += 1
            await Task.yield()
        }
        #expect(compared >= 300)
    }

    /// The snapshots' records, found by computer and record id in the samples, field by field.
    /// XML snapshots compare everything; JSON ones compare System and a flat EventData (their
    /// UserData is the nested JSON the XML snapshots of the same records already cover).
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent: EVTX snapshots skipped"))
    func snapshotRecordsMatchFieldForField() throws {
        let snapshots = Self.root.appendingPathComponent("omerbenamram/tests/snapshots")
        let samples = Self.root.appendingPathComponent("omerbenamram/samples")
        var index: [String: WindowsEvent] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: samples.path) where file.hasSuffix(".evtx") {
            try EvtxFile(path: samples.appendingPathComponent(file).path).forEachEvent { event in
                index["\(event.computer)#\(event.recordID)#\(event.eventID)"] = index["\(event.computer)#\(event.recordID)#\(event.eventID)"] ?? event
            }
        }
        var compared: [String] = []
        var unavailable: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: snapshots.path).sorted() where name.hasPrefix("test_record_samples") {
            let text = try String(contentsOf: snapshots.appendingPathComponent(name), encoding: .utf8)
            let body = text.components(separatedBy: "\n---\n").dropFirst().joined(separator: "\n---\n")
            let expected: WindowsEvent
            let comparesData: Bool
            if body.hasPrefix("<") {
                let read = EventXMLReader().events(in: body)
                try #require(read.events.count == 1, "\(name)")
                expected = read.events[0]
                comparesData = true
            } else {
                (expected, comparesData) = try Self.event(fromSnapshotJSON: body)
            }
            guard let actual = index["\(expected.computer)#\(expected.recordID)#\(expected.eventID)"] else {
                unavailable.append(name)
                continue
            }
            compared.append(name)
            #expect(actual.recordID == expected.recordID, "\(name)")
            #expect(actual.eventID == expected.eventID, "\(name)")
            #expect(actual.channel == expected.channel, "\(name)")
            #expect(actual.provider == expected.provider, "\(name)")
            #expect(actual.computer == expected.computer, "\(name)")
            #expect(actual.timeMicroseconds == expected.timeMicroseconds, "\(name)")
            #expect(actual.userID == expected.userID, "\(name)")
            if comparesData {
                if body.hasPrefix("<") {
                    #expect(actual.data == expected.data, "\(name)")
                } else {
                    #expect(actual.data.sorted { $0.name < $1.name } == expected.data.sorted { $0.name < $1.name }, "\(name)")
                }
            }
        }
        print("EVTX snapshots compared: \(compared.count) (\(compared.joined(separator: ", ")))")
        print("EVTX snapshots whose source file is not in the shared data (over 4 MiB): \(unavailable.joined(separator: ", "))")
        // The two left out are of 2-system-Security-dirty.evtx and Application.evtx, which the
        // shared data leaves out for their size.
        #expect(compared.count >= 14)
        #expect(unavailable.count <= 4)
    }

    /// A snapshot in the crate's JSON form as an event: System's fields, and EventData when it
    /// is flat (named values, or `Data` with `#text`).
    static func event(fromSnapshotJSON json: String) throws -> (WindowsEvent, Bool) {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let event = object["Event"] as! [String: Any]
        let system = event["System"] as! [String: Any]
        func attributes(_ key: String) -> [String: Any] {
            if let separate = system[key + "_attributes"] as? [String: Any] { return separate }
            return ((system[key] as? [String: Any])?["#attributes"] as? [String: Any]) ?? [:]
        }
        func text(_ value: Any?) -> String {
            switch value {
            case let s as String: s
            case let n as NSNumber: n.stringValue
            case let d as [String: Any]: text(d["#text"])
            default: ""
            }
        }
        var result = WindowsEvent()
        result.eventID = UInt32(text(system["EventID"])) ?? 0
        result.channel = text(system["Channel"])
        result.computer = text(system["Computer"])
        result.recordID = UInt64(text(system["EventRecordID"])) ?? 0
        result.provider = text(attributes("Provider")["Name"])
        result.userID = text(attributes("Security")["UserID"])
        result.timeMicroseconds = EventTime.microseconds(iso8601: text(attributes("TimeCreated")["SystemTime"])) ?? 0
        guard event["UserData"] == nil else { return (result, false) }
        if let data = event["EventData"] as? [String: Any] {
            for (key, value) in data where key != "#attributes" && !key.hasSuffix("_attributes") {
                if key == "Data", let d = value as? [String: Any] {
                    let items = (d["#text"] as? [Any]) ?? [d["#text"] as Any]
                    for (k, item) in items.enumerated() { result.data.append(.init(name: "Data[\(k + 1)]", value: text(item))) }
                } else if value is [String: Any] || value is [Any] {
                    return (result, false)
                } else {
                    result.data.append(.init(name: key, value: text(value)))
                }
            }
        }
        return (result, true)
    }
}
