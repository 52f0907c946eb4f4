import Foundation
import Testing

@testable import WindowsEvents

/// EVTX chunks written by hand, the way an attacker who controls a log file would write them,
/// for the cases a review found: each was minutes of CPU, hundreds of MB or lost records
/// before its fix.
enum EvtxBuilder {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    static func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(v >> (8 * UInt64($0)) & 0xFF) } }
    static func utf16(_ s: String) -> [UInt8] { s.utf16.flatMap { u16(Int($0)) } }

    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func fileHeader(chunks: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 4096)
        h.replaceSubrange(0..<8, with: Array("ElfFile\0".utf8))
        h.replaceSubrange(42..<44, with: u16(chunks))
        h.replaceSubrange(124..<128, with: u32(Int(crc(h[0..<120]))))
        return h
    }

    struct Chunk {
        var bytes = [UInt8](repeating: 0, count: 65536)
        var offset = 512
        var first: UInt64?
        var last: UInt64 = 0

        init() { bytes.replaceSubrange(0..<8, with: Array("ElfChnk\0".utf8)) }

        mutating func put(_ at: Int, _ data: [UInt8]) { bytes.replaceSubrange(at..<(at + data.count), with: data) }

        mutating func record(_ id: UInt64, _ binxml: [UInt8]) {
            let size = 24 + binxml.count + 4
            put(offset, [0x2A, 0x2A, 0, 0] + u32(size) + u64(id) + u64(133_000_000_000_000_000) + binxml + u32(size))
            offset += size
            if first == nil { first = id }
            last = id
        }

        func finish(staleLast: UInt64? = nil) -> [UInt8] {
            var b = bytes
            let l = staleLast ?? last
            b.replaceSubrange(8..<40, with: u64(first ?? 0) + u64(l) + u64(first ?? 0) + u64(l))
            b.replaceSubrange(48..<52, with: u32(offset))
            b.replaceSubrange(52..<56, with: u32(Int(crc(b[512..<offset]))))
            b.replaceSubrange(124..<128, with: u32(Int(crc(b[0..<120] + b[128..<512]))))
            return b
        }
    }

    static func name(_ text: String) -> [UInt8] { u32(0) + u16(0) + u16(text.utf16.count) + utf16(text) + [0, 0] }
    static func instance(_ definition: Int, _ values: [(UInt8, [UInt8])] = []) -> [UInt8] {
        var out: [UInt8] = [0x0C, 0] + u32(1) + u32(definition) + u32(values.count)
        for (t, v) in values { out += u16(v.count) + [t, 0] }
        for (_, v) in values { out += v }
        return out
    }
    static func recordBody(_ definition: Int, _ values: [(UInt8, [UInt8])] = []) -> [UInt8] { [0x0F, 1, 1, 0] + instance(definition, values) }
    static func open(_ nameOffset: Int) -> [UInt8] { [0x01] + u16(0xFFFF) + u32(0) + u32(nameOffset) }
    static func template(_ body: [UInt8]) -> [UInt8] { u32(0) + [UInt8](repeating: 0, count: 16) + u32(body.count) + body }

    /// A log of 4625 records with the given ids (EventID, Channel, TargetUserName).
    static func failures(_ ids: [UInt64], staleLast: UInt64? = nil, lastUnfinished: Bool = false) -> [UInt8] {
        var c = Chunk()
        var names: [String: Int] = [:]
        var o = 50_000
        for n in ["Event", "System", "EventID", "Channel", "EventData", "Data", "Name"] {
            names[n] = o
            c.put(o, name(n))
            o += 40
        }
        func sub(_ i: Int, _ t: UInt8) -> [UInt8] { [0x0E] + u16(i) + [t] }
        let body: [UInt8] = open(names["Event"]!) + [0x02] + open(names["System"]!) + [0x02] + open(names["EventID"]!) + [0x02] + sub(0, 6) + [0x04]
            + open(names["Channel"]!) + [0x02] + sub(1, 1) + [0x04] + [0x04]
            + open(names["EventData"]!) + [0x02] + open(names["Data"]!) + [0x06] + u32(names["Name"]!) + [0x05, 0x01] + u16(14) + utf16("TargetUserName")
            + [0x02] + sub(2, 1) + [0x04, 0x04, 0x04, 0x00]
        c.put(o, template(body))
        for id in ids {
            c.record(id, recordBody(o, [(6, u16(4625)), (1, utf16("Security")), (1, utf16("user\(id)"))]))
        }
        // Being written: its closing size not there yet.
        if lastUnfinished { c.put(c.offset - 4, [0, 0, 0, 0]) }
        return c.finish(staleLast: staleLast)
    }
}

@Suite("Crafted EVTX")
struct CraftedEvtxTests {
    static func read(_ file: [UInt8]) throws -> (events: [WindowsEvent], statistics: EvtxStatistics) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("crafted-\(UUID().uuidString).evtx")
        try Data(file).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        var events: [WindowsEvent] = []
        let statistics = try EvtxFile(path: url.path).forEachEvent { events.append($0) }
        return (events, statistics)
    }

    @Test func theBuilderMakesARealLog() throws {
        let (events, statistics) = try Self.read(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, 3]))
        #expect(statistics.headerChecksumMismatches == 0 && statistics.dataChecksumMismatches == 0 && statistics.fileHeaderChecksumMatches)
        #expect(events.map(\.eventID) == [4625, 4625, 4625])
        #expect(events.map { $0["TargetUserName"] } == ["user1", "user2", "user3"])
    }

    /// A template that nests a 21-character literal about 48,000 times into one Data
    /// element: each append copied the whole value (0.7 s a record, minutes a chunk). Now the
    /// value is appended in place and stops at `maxFieldText`.
    @Test func aLiteralRepeatedIntoOneValueCostsLittle() async throws {
        var c = EvtxBuilder.Chunk()
        let (event, eventData, data) = (30_000, 30_040, 30_080)
        c.put(event, EvtxBuilder.name("Event"))
        c.put(eventData, EvtxBuilder.name("EventData"))
        c.put(data, EvtxBuilder.name("Data"))
        let literal = 30_120
        let text = String(repeating: "A", count: 21)
        c.put(literal, EvtxBuilder.template([0x05, 0x01] + EvtxBuilder.u16(21) + EvtxBuilder.utf16(text)))
        let inner = literal + 24 + 4 + 42 + 8
        c.put(inner, EvtxBuilder.template(Array((0..<2000).map { _ in EvtxBuilder.instance(literal) }.joined())))
        let outer = inner + 24 + 14 * 2000 + 8
        let body = EvtxBuilder.open(event) + [0x02] + EvtxBuilder.open(eventData) + [0x02] + EvtxBuilder.open(data) + [0x02]
            + Array((0..<24).map { _ in EvtxBuilder.instance(inner) }.joined()) + [0x04, 0x04, 0x04, 0x00]
        c.put(outer, EvtxBuilder.template(body))
        for id in 1...40 { c.record(UInt64(id), EvtxBuilder.recordBody(outer)) }
        let start = ContinuousClock.now
        let (events, _) = try Self.read(EvtxBuilder.fileHeader(chunks: 1) + c.finish())
        let took = ContinuousClock.now - start
        #expect(events.count <= 40)
        #expect(events.allSatisfy { ($0["Data[1]"]?.utf8.count ?? 0) <= 32 * 1024 + 21 })
        #expect(took < .seconds(10), "40 records took \(took)")
    }

    /// Every record points at another place inside a long run of end tokens: each is a
    /// template of tens of thousands of ops. Decoding is charged and the caches are bounded.
    @Test func templatesAtEveryOffsetOfALongRunAreBounded() async throws {
        var c = EvtxBuilder.Chunk()
        let count = 400
        let region = 512 + 46 * count
        for i in 0..<count { c.record(UInt64(i + 1), EvtxBuilder.recordBody(region + i)) }
        #expect(c.offset == region)
        c.put(region, [UInt8](repeating: 0x04, count: 65536 - region))
        let start = ContinuousClock.now
        let (events, statistics) = try Self.read(EvtxBuilder.fileHeader(chunks: 1) + c.finish())
        #expect(events.count + statistics.damagedRecords == count)
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    /// A record numbered far past its chunk must not move a follower's place beyond every
    /// record to come; and records written into the chunk at the place, whose header still
    /// shows the old last number, are read before a newer chunk's.
    @Test func theFollowerSurvivesHugeNumbersAndStaleHeaders() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crafted-follow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("Security.evtx").path
        func put(_ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path + ".tmp"))
            #expect(rename(path + ".tmp", path) == 0)
        }
        func drain(_ f: inout EvtxFollower) -> [String] {
            var names: [String] = []
            while true {
                let batch = f.read(limit: 100)
                if batch.isEmpty { return names }
                names += batch.map { $0.event["TargetUserName"] ?? "?" }
            }
        }
        var follower = EvtxFollower(path: path, after: 0)
        try put(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, UInt64.max]))
        #expect(drain(&follower) == ["user1", "user2"])
        #expect(follower.lastRecordID == 2)
        try put(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, UInt64.max, 3, 4]))
        #expect(drain(&follower) == ["user3", "user4"])

        var stale = EvtxFollower(path: path, after: 0)
        try put(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, 3]))
        #expect(drain(&stale) == ["user1", "user2", "user3"])
        try put(EvtxBuilder.fileHeader(chunks: 2) + EvtxBuilder.failures([1, 2, 3, 4, 5], staleLast: 3) + EvtxBuilder.failures([6, 7]))
        #expect(drain(&stale) == ["user4", "user5", "user6", "user7"])

        // `start_at: end`: the place goes after the newest finished record, none expanded.
        var atEnd = EvtxFollower(path: path, after: 0)
        try put(EvtxBuilder.fileHeader(chunks: 2) + EvtxBuilder.failures([1, 2, 3]) + EvtxBuilder.failures([4, 5], lastUnfinished: true))
        atEnd.skipToEnd()
        #expect(atEnd.lastRecordID == 4 && atEnd.statistics.records == 0)
        try put(EvtxBuilder.fileHeader(chunks: 2) + EvtxBuilder.failures([1, 2, 3]) + EvtxBuilder.failures([4, 5, 6]))
        #expect(drain(&atEnd) == ["user5", "user6"])

        // A full batch leaves the chunk's other records unexpanded until the next read.
        var batches = EvtxFollower(path: path, after: 0)
        #expect(batches.read(limit: 2).map(\.id) == [1, 2])
        #expect(batches.statistics.records == 2)
        #expect(batches.read(limit: 2).map(\.id) == [3, 4])

        // A record Windows is still writing is read once it is finished, not before.
        var writing = EvtxFollower(path: path, after: 0)
        try put(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, 3], lastUnfinished: true))
        #expect(drain(&writing) == ["user1", "user2"])
        try put(EvtxBuilder.fileHeader(chunks: 1) + EvtxBuilder.failures([1, 2, 3]))
        #expect(drain(&writing) == ["user3"])
    }
}
