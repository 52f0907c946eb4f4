import Foundation
import Platform
import Wire

/// What reading an EVTX file met, so damage is counted and never silent.
package struct EvtxStatistics: Sendable, Equatable {
    /// Chunks whose records were read.
    package var chunks = 0
    /// Chunks never written (all zero): not damage.
    package var emptyChunks = 0
    /// Chunks without the `ElfChnk` signature: skipped whole.
    package var damagedChunks = 0
    /// Chunks whose header or record-data CRC32 did not match. Their records are still read
    /// one by one (each must have its signature and its size twice), as Windows and the
    /// reference parsers do: a file copied while being written is often like that.
    package var headerChecksumMismatches = 0
    package var dataChecksumMismatches = 0
    /// Records read into events.
    package var records = 0
    /// Records whose binary XML could not be expanded, and record headers that were broken
    /// (the rest of their chunk is then skipped).
    package var damagedRecords = 0
    /// Records without their closing size copy (read when their binary XML expands).
    package var unfinishedRecords = 0
    /// The highest record id met, read or not.
    package var highestRecordID: UInt64?
    /// Whether the file header's CRC32 matched.
    package var fileHeaderChecksumMatches = true

    package init() {}

    /// Adds `other`'s counts to these (the highest record id is the higher of the two).
    package mutating func add(_ other: EvtxStatistics) {
        chunks += other.chunks
        emptyChunks += other.emptyChunks
        damagedChunks += other.damagedChunks
        headerChecksumMismatches += other.headerChecksumMismatches
        dataChecksumMismatches += other.dataChecksumMismatches
        records += other.records
        damagedRecords += other.damagedRecords
        unfinishedRecords += other.unfinishedRecords
        if let h = other.highestRecordID { highestRecordID = max(highestRecordID ?? 0, h) }
        fileHeaderChecksumMatches = fileHeaderChecksumMatches && other.fileHeaderChecksumMatches
    }
}

/// An EVTX file read chunk by chunk (64 KiB each, whatever the file's size), with a
/// checksum check per chunk and an event per record.
///
/// Layout (libyal's "Windows XML Event Log (EVTX)" notes): a 4 KiB file header (`ElfFile\0`,
/// CRC32 of its first 120 bytes at 124), then 64 KiB chunks (`ElfChnk\0`; CRC32 of bytes
/// 0..<120 and 128..<512 at 124, CRC32 of the records at 52; the free-space offset at 48),
/// records from offset 512 (`**\0\0`, size, record id, FILETIME, binary XML, size again).
package final class EvtxFile {
    package static let fileHeaderSize = 4096
    package static let chunkSize = 65536
    static let chunkHeaderSize = 512
    static let recordHeaderSize = 24

    package let path: String
    /// A regular file is read by position (and mapped); anything else as a stream.
    private enum Source {
        case file(ReadableFile)
        case stream(FileHandle)
    }
    private let source: Source

    package init(path: String) throws {
        if let file = ReadableFile.open(path) {
            source = .file(file)
        } else if let handle = FileHandle(forReadingAtPath: path) {
            source = .stream(handle)
        } else {
            throw EvtxFileError("cannot open \(path)")
        }
        self.path = path
    }

    deinit {
        if case .stream(let handle) = source { try? handle.close() }
    }

    /// Calls `body` with every record's event in file order; records with an id at or below
    /// `after` are skipped without being expanded.
    @discardableResult
    package func forEachEvent(after: UInt64 = 0, _ body: (WindowsEvent) throws -> Void) throws -> EvtxStatistics {
        try read(after: after) { collector, recordID, written in
            try body(collector.finish(recordID: recordID, headerMicroseconds: written))
        }
    }

    /// `edge read-evtx --json`: each record as `WindowsEvent.appendJSON` writes it, and a
    /// newline, appended to `out`, with the values written straight from the file's bytes;
    /// `flush` is called whenever `out` holds 64 KiB or more.
    @discardableResult
    package func appendJSONLines(to out: inout [UInt8], flush: (inout [UInt8]) -> Void) throws -> EvtxStatistics {
        try read(after: 0) { collector, recordID, written in
            collector.finishSystem(recordID: recordID, headerMicroseconds: written)
            collector.appendJSON(to: &out)
            out.append(0x0A)
            if out.count >= 1 << 16 { flush(&out) }
        }
    }

    private func read(after: UInt64, _ emit: (inout EventCollector, UInt64, Int64) throws -> Void) throws -> EvtxStatistics {
        var statistics = EvtxStatistics()
        var collector = EventCollector()
        try forEachChunk { chunk, index in
            if index < 0 {
                guard chunk.count == Self.fileHeaderSize, chunk.starts(with: "ElfFile\0".utf8) else {
                    throw EvtxFileError("\(path) is not an EVTX file (no ElfFile signature)")
                }
                statistics.fileHeaderChecksumMatches = Self.crc32(chunk, 0..<120) == chunk.le(124, as: UInt32.self)
            } else {
                try Self.readChunk(chunk, after: after, statistics: &statistics, collector: &collector, emit)
            }
        }
        return statistics
    }

    /// Calls `body` with the file header (index -1), then each whole chunk in file order. A
    /// regular file is mapped (no copy per chunk); anything else is read 64 KiB at a time.
    private func forEachChunk(_ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        switch source {
        case .file(let file):
            guard let mapped = MappedFile(file) else {
                // Empty: no header, which the caller refuses.
                return try body(UnsafeRawBufferPointer(start: nil, count: 0), -1)
            }
            defer { mapped.unmap() }
            let bytes = UnsafeRawBufferPointer(mapped.bytes)
            guard bytes.count >= Self.fileHeaderSize else { return try body(bytes, -1) }
            try body(UnsafeRawBufferPointer(rebasing: bytes[0..<Self.fileHeaderSize]), -1)
            var offset = Self.fileHeaderSize
            var index = 0
            while offset + Self.chunkSize <= bytes.count {
                try body(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Self.chunkSize)]), index)
                offset += Self.chunkSize
                index += 1
            }
        case .stream(let handle):
            let header = try handle.read(upToCount: Self.fileHeaderSize) ?? Data()
            try header.withUnsafeBytes { try body($0, -1) }
            var index = 0
            while let data = try handle.read(upToCount: Self.chunkSize), data.count == Self.chunkSize {
                try data.withUnsafeBytes { try body($0, index) }
                index += 1
            }
        }
    }

    /// The events of one chunk given as bytes (a shorter buffer is padded with zeros to
    /// 64 KiB, a longer one cut): the fuzzer's way in. Each record is also written as JSON.
    @discardableResult
    package static func readChunk(_ bytes: [UInt8], _ body: (WindowsEvent) -> Void) -> EvtxStatistics {
        var chunk = Array(bytes.prefix(chunkSize))
        if chunk.count < chunkSize { chunk += [UInt8](repeating: 0, count: chunkSize - chunk.count) }
        var statistics = EvtxStatistics()
        var collector = EventCollector()
        var json: [UInt8] = []
        chunk.withUnsafeBytes { raw in
            readChunk(raw, after: 0, statistics: &statistics, collector: &collector) { collector, recordID, written in
                collector.finishSystem(recordID: recordID, headerMicroseconds: written)
                json.removeAll(keepingCapacity: true)
                collector.appendJSON(to: &json)
                body(collector.finish(recordID: recordID, headerMicroseconds: written))
            }
        }
        return statistics
    }

    /// `stopAtUnfinished`: a record without its closing size ends the chunk (a follower reads
    /// it again once Windows has finished writing it) instead of being read as it is.
    static func readChunk(
        _ chunk: UnsafeRawBufferPointer, after: UInt64, statistics: inout EvtxStatistics, collector: inout EventCollector,
        stopAtUnfinished: Bool = false, until done: () -> Bool = { false },
        _ emit: (inout EventCollector, UInt64, Int64) throws -> Void
    ) rethrows {
        guard chunk.starts(with: "ElfChnk\0".utf8) else {
            if chunk.allSatisfy({ $0 == 0 }) {
                statistics.emptyChunks += 1
            } else {
                statistics.damagedChunks += 1
            }
            return
        }
        statistics.chunks += 1
        var headerCRC = crc32(chunk, 0..<120)
        headerCRC = crc32(chunk, 128..<chunkHeaderSize, seed: headerCRC)
        if headerCRC != chunk.le(124, as: UInt32.self) { statistics.headerChecksumMismatches += 1 }
        var freeSpace = Int(chunk.le(48, as: UInt32.self))
        if freeSpace < chunkHeaderSize || freeSpace > chunkSize { freeSpace = chunkSize }
        if crc32(chunk, chunkHeaderSize..<freeSpace) != chunk.le(52, as: UInt32.self) { statistics.dataChecksumMismatches += 1 }

        var decoder = BinXMLDecoder(chunk: chunk)
        collector.chunk = chunk
        defer { collector.chunk = UnsafeRawBufferPointer(start: nil, count: 0) }
        var offset = chunkHeaderSize
        while offset + recordHeaderSize <= freeSpace, !done() {
            guard chunk.le(offset, as: UInt32.self) == 0x0000_2A2A else { break }
            let size = Int(chunk.le(offset + 4, as: UInt32.self))
            guard size >= recordHeaderSize + 4, size <= chunkSize - offset else {
                statistics.damagedRecords += 1
                break
            }
            // The size is written again at the end when the record is complete. A record
            // without it was being written when the file was copied: read it if it expands.
            if chunk.le(offset + size - 4, as: UInt32.self) != UInt32(size) {
                if stopAtUnfinished { break }
                statistics.unfinishedRecords += 1
            }
            let recordID = chunk.le(offset + 8, as: UInt64.self)
            statistics.highestRecordID = max(statistics.highestRecordID ?? 0, recordID)
            if recordID > after {
                let written = ValueText.microseconds(fileTime: chunk.le(offset + 16, as: UInt64.self))
                collector.reset()
                var expanded = false
                do {
                    try decoder.decodeRecord(from: offset + recordHeaderSize, to: offset + size - 4, into: &collector)
                    expanded = true
                } catch {
                    statistics.damagedRecords += 1
                }
                if expanded {
                    statistics.records += 1
                    try emit(&collector, recordID, written)
                }
            }
            offset += size
        }
    }

    /// The number and FILETIME of the last record in `chunk` that has its closing size.
    static func lastFinishedRecord(in chunk: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        guard chunk.count == chunkSize else { return nil }
        var found: (UInt64, UInt64)?
        var offset = chunkHeaderSize
        while offset + recordHeaderSize <= chunkSize, chunk.le(offset, as: UInt32.self) == 0x0000_2A2A {
            let size = Int(chunk.le(offset + 4, as: UInt32.self))
            guard size >= recordHeaderSize + 4, size <= chunkSize - offset, chunk.le(offset + size - 4, as: UInt32.self) == UInt32(size) else { break }
            let id = chunk.le(offset + 8, as: UInt64.self)
            if id > (found?.0 ?? 0) { found = (id, chunk.le(offset + 16, as: UInt64.self)) }
            offset += size
        }
        return found
    }

    /// When the record numbered `id` in `chunk` was written (its header's FILETIME), if the
    /// chunk holds it. Walks the record headers only.
    static func writtenTime(of id: UInt64, in chunk: UnsafeRawBufferPointer) -> UInt64? {
        guard chunk.count == chunkSize else { return nil }
        var offset = chunkHeaderSize
        while offset + recordHeaderSize <= chunkSize, chunk.le(offset, as: UInt32.self) == 0x0000_2A2A {
            let size = Int(chunk.le(offset + 4, as: UInt32.self))
            guard size >= recordHeaderSize + 4, size <= chunkSize - offset else { return nil }
            if chunk.le(offset + 8, as: UInt64.self) == id { return chunk.le(offset + 16, as: UInt64.self) }
            offset += size
        }
        return nil
    }

    static func crc32(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, seed: UInt32 = 0) -> UInt32 {
        CRC32.of(UnsafeRawBufferPointer(rebasing: bytes[range]), seed: seed)
    }
}

package struct EvtxFileError: Error, CustomStringConvertible, Sendable {
    package let description: String
    init(_ description: String) { self.description = description }
}
