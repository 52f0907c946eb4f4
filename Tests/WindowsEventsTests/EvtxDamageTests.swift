import Foundation
import Testing

@testable import WindowsEvents

/// A real EVTX file damaged on purpose, the ways disks, copies and attackers damage them:
/// every damage is counted, nothing traps, and every record outside the damage is still read.
@Suite("EVTX damage")
struct EvtxDamageTests {
    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx/omerbenamram/samples/security.evtx").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: sample.path) }

    static func read(_ bytes: [UInt8]) throws -> (ids: [UInt64], statistics: EvtxStatistics) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("evtx-damage-\(UUID().uuidString).evtx")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        var ids: [UInt64] = []
        let statistics = try EvtxFile(path: url.path).forEachEvent { ids.append($0.recordID) }
        return (ids, statistics)
    }

    static func u32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24
    }

    @Test(.enabled(if: available, "../shared/testdata/evtx is absent"))
    func damageIsCountedAndTheRestIsRead() throws {
        let original = [UInt8](try Data(contentsOf: Self.sample))
        let clean = try Self.read(original)
        #expect(clean.statistics.damagedChunks == 0 && clean.statistics.damagedRecords == 0)
        #expect(clean.statistics.headerChecksumMismatches == 0 && clean.statistics.dataChecksumMismatches == 0)
        #expect(clean.statistics.fileHeaderChecksumMatches)
        let chunk0 = EvtxFile.fileHeaderSize
        let chunk1 = chunk0 + EvtxFile.chunkSize
        let firstChunkIDs = try Self.read(Array(original.prefix(chunk1))).ids
        #expect(firstChunkIDs.count > 10)

        // A changed byte in a chunk header's unused area: the checksum says so, records stay.
        var header = original
        header[chunk0 + 100] ^= 0xFF
        let headerResult = try Self.read(header)
        #expect(headerResult.statistics.headerChecksumMismatches == 1)
        #expect(headerResult.ids == clean.ids)

        // A changed byte in the file header: counted.
        var fileHeader = original
        fileHeader[20] ^= 0x01
        #expect(try Self.read(fileHeader).statistics.fileHeaderChecksumMatches == false)

        // The second chunk's signature broken: that chunk is skipped, the others read.
        var magic = original
        magic[chunk1] = UInt8(ascii: "X")
        let magicResult = try Self.read(magic)
        let secondChunkIDs = Set(try Self.read(Array(original.prefix(chunk1 + EvtxFile.chunkSize))).ids).subtracting(firstChunkIDs)
        #expect(magicResult.statistics.damagedChunks == 1)
        #expect(magicResult.ids == clean.ids.filter { !secondChunkIDs.contains($0) })

        // The third record's size made impossible: its chunk's remaining records are lost and
        // counted; the other chunks are read.
        var size = original
        var offset = chunk0 + 512
        offset += Self.u32(original, offset + 4)
        offset += Self.u32(original, offset + 4)
        size[offset + 4] = 0xFF
        size[offset + 5] = 0xFF
        size[offset + 6] = 0x0F
        let sizeResult = try Self.read(size)
        #expect(sizeResult.statistics.damagedRecords == 1)
        #expect(sizeResult.statistics.dataChecksumMismatches == 1)
        #expect(sizeResult.ids == Array(clean.ids.prefix(2)) + clean.ids.filter { !firstChunkIDs.contains($0) })

        // The binary XML of the second record broken (its first token made unknown): that
        // record is counted and skipped, the next ones read.
        var token = original
        let second = chunk0 + 512 + Self.u32(original, chunk0 + 512 + 4)
        token[second + 24] = 0x7E
        let tokenResult = try Self.read(token)
        #expect(tokenResult.statistics.damagedRecords == 1)
        #expect(tokenResult.ids == clean.ids.filter { $0 != clean.ids[1] })

        // A file cut in the middle of a chunk: the whole chunks before it are read.
        let cut = try Self.read(Array(original.prefix(chunk1 + 1000)))
        #expect(cut.ids == firstChunkIDs)

        // Not an EVTX file at all.
        #expect(throws: EvtxFileError.self) { try Self.read(Array("not an event log".utf8) + [UInt8](repeating: 0, count: 5000)) }
    }

    /// A record to start after: the records at or below it are not expanded or reported.
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent"))
    func readingResumesAfterARecordID() throws {
        let file = try EvtxFile(path: Self.sample.path)
        var all: [UInt64] = []
        try file.forEachEvent { all.append($0.recordID) }
        var rest: [UInt64] = []
        try file.forEachEvent(after: all[100]) { rest.append($0.recordID) }
        #expect(rest == Array(all[101...]))
    }

    /// Every other byte of the first 8 KiB of a real chunk changed in turn to values a parser trips
    /// on: never a trap, and every record read or counted. (The fuzzer goes further in CI.)
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent"))
    func everyByteOfAChunkCanBeWrong() async throws {
        let original = [UInt8](try Data(contentsOf: Self.sample))
        let chunk = Array(original[EvtxFile.fileHeaderSize..<(EvtxFile.fileHeaderSize + 8192)])
        let clean = EvtxFile.readChunk(chunk) { _ in }
        var mutated = chunk
        var position = 0
        let start = ContinuousClock.now
        while position < 8192 {
            for value: UInt8 in [position % 4 == 0 ? 0x00 : 0x0C, 0xFF] {
                let saved = mutated[position]
                mutated[position] = value
                var read = 0
                let statistics = EvtxFile.readChunk(mutated) { _ in read += 1 }
                #expect(statistics.records == read)
                #expect(statistics.records <= clean.records + 1)
                mutated[position] = saved
            }
            position += 2
            if position % 256 == 0 { await Task.yield() }
        }
        #expect(clean.records >= 10)
        print("EVTX: 8,192 damaged chunks read in \(ContinuousClock.now - start)")
    }
}
