import Foundation
import Platform

/// Follows an EVTX file as Windows (or a copy job) writes it: records appended to the last
/// chunk, new chunks, the file wrapping around (Windows overwrites its oldest chunks when the
/// log is full), the file replaced. The place is the last record id read; records come out
/// oldest first, each once.
///
/// Each read looks at the file only when its size, time or identity changed (or every
/// `rescanSeconds`), reads the 40-byte header of every chunk, and then only the chunks that
/// can hold newer records. Reads use `pread` into one 64 KiB buffer: the file is never
/// mapped, so a file cut short while it is read cannot stop the edge.
///
/// The place also keeps when its record was written. When the file's record of that number
/// was written at another time, or every record in the file is older than the place, the log
/// was cleared or replaced by a new one whose numbers started again: reading starts over from
/// its first record, and `restarts` counts it. A copy of the same log put in place (rsync's
/// rename) has the same record at the same time: reading goes on after it.
package struct EvtxFollower {
    package let path: String
    /// The last record id read (0: none yet).
    package private(set) var lastRecordID: UInt64
    /// When the last record read was written (its header's time, microseconds since 1970 as
    /// an unsigned number; 0 when unknown).
    package private(set) var lastRecordTime: UInt64
    /// Times the file's numbering started again below the place.
    package private(set) var restarts = 0
    package private(set) var statistics = EvtxStatistics()
    /// Whether the file was there and readable at the last look.
    package private(set) var isReadable = false

    package static let rescanSeconds: Double = 30
    /// How far past its chunk's first number (or the place) a record's number may be.
    package static let maxJump: UInt64 = 1 << 20

    private var lastLook: (size: Int64, mtime: Int64, inode: UInt64)?
    /// When the file was last scanned (on the monotonic clock: a wall clock set back must
    /// not stop the rescans).
    private var lastScan: ContinuousClock.Instant?
    private var moreWaiting = false
    private var collector = EventCollector()
    private var buffer = [UInt8](repeating: 0, count: EvtxFile.chunkSize)

    package init(path: String, after recordID: UInt64, writtenAt time: UInt64 = 0) {
        self.path = path
        self.lastRecordID = recordID
        self.lastRecordTime = time
    }

    /// The place as one line of text (`id:time`), for a state file.
    package var cursor: String { "\(lastRecordID):\(lastRecordTime)" }

    /// A follower from `cursor`'s text (a bad one starts at the beginning).
    package init(path: String, cursor: String?) {
        let parts = (cursor ?? "").split(separator: ":")
        self.init(path: path, after: parts.first.flatMap { UInt64($0) } ?? 0, writtenAt: parts.count > 1 ? UInt64(parts[1]) ?? 0 : 0)
    }

    /// Puts the place after the newest finished record in the file now, without expanding any
    /// (`start_at: end`): the newest chunk's record headers are walked.
    package mutating func skipToEnd() {
        guard let file = ReadableFile.open(path), let size = Int(exactly: file.size) else { return }
        guard let newest = Self.chunkHeaders(file, size: size).max(by: { $0.first < $1.first }),
              file.read(&buffer, count: EvtxFile.chunkSize, at: Int64(EvtxFile.fileHeaderSize + newest.index * EvtxFile.chunkSize)) == EvtxFile.chunkSize
        else { return }
        if let (id, time) = buffer.withUnsafeBytes({ EvtxFile.lastFinishedRecord(in: $0) }), id > lastRecordID {
            lastRecordID = id
            lastRecordTime = UInt64(bitPattern: ValueText.microseconds(fileTime: time))
        }
    }

    /// Records newer than the last one read, oldest first, at most `limit`, each with when it
    /// was written (as `lastRecordTime` has it) and its record header's number: the place
    /// after it.
    /// `now` is when the read happens (tests pass their own).
    package mutating func read(limit: Int, now: ContinuousClock.Instant = .now) -> [(event: WindowsEvent, written: UInt64, id: UInt64)] {
        guard let facts = ReadableFile.facts(of: path) else {
            isReadable = false
            return []
        }
        let look = (size: facts.size, mtime: facts.modified, inode: facts.number)
        if let last = lastLook, last == look, !moreWaiting, let scanned = lastScan, now - scanned < .seconds(Self.rescanSeconds) {
            return []
        }
        lastLook = look
        lastScan = now
        guard let file = ReadableFile.open(path), let size = Int(exactly: file.size) else {
            isReadable = false
            return []
        }
        isReadable = true
        var events = scan(file, size: size, limit: limit)
        if events.isEmpty, lastRecordID > 0, let highest = highestInFile, highest < lastRecordID {
            // Numbering started again: a cleared log or a new file.
            restarts += 1
            lastRecordID = 0
            lastRecordTime = 0
            events = scan(file, size: size, limit: limit)
        }
        return events
    }

    private var highestInFile: UInt64?

    /// Every chunk's index and first and last record numbers, from their 40-byte headers.
    private static func chunkHeaders(_ file: ReadableFile, size: Int) -> [(index: Int, first: UInt64, last: UInt64)] {
        var chunks: [(index: Int, first: UInt64, last: UInt64)] = []
        let count = max(0, (size - EvtxFile.fileHeaderSize) / EvtxFile.chunkSize)
        var header = [UInt8](repeating: 0, count: 40)
        for index in 0..<count {
            let offset = Int64(EvtxFile.fileHeaderSize + index * EvtxFile.chunkSize)
            guard file.read(&header, count: 40, at: offset) == 40, header.starts(with: Array("ElfChnk\0".utf8)) else { continue }
            chunks.append((index, header.withUnsafeBytes { $0.le(24, as: UInt64.self) }, header.withUnsafeBytes { $0.le(32, as: UInt64.self) }))
        }
        return chunks
    }

    private mutating func scan(_ file: ReadableFile, size: Int, limit: Int) -> [(event: WindowsEvent, written: UInt64, id: UInt64)] {
        highestInFile = nil
        moreWaiting = false
        guard size >= EvtxFile.fileHeaderSize + EvtxFile.chunkSize, file.read(&buffer, count: 8, at: 0) == 8,
              buffer.starts(with: Array("ElfFile\0".utf8))
        else { return [] }
        let chunks = Self.chunkHeaders(file, size: size)
        guard let newest = chunks.max(by: { $0.first < $1.first }) else { return [] }
        highestInFile = chunks.map(\.last).max()
        // The record at the place: written at another time, it is another log.
        if lastRecordID > 0, lastRecordTime != 0,
           let home = chunks.first(where: { $0.first <= lastRecordID && lastRecordID <= $0.last }),
           file.read(&buffer, count: EvtxFile.chunkSize, at: Int64(EvtxFile.fileHeaderSize + home.index * EvtxFile.chunkSize)) == EvtxFile.chunkSize,
           let time = buffer.withUnsafeBytes({ EvtxFile.writtenTime(of: lastRecordID, in: $0) }),
           UInt64(bitPattern: ValueText.microseconds(fileTime: time)) != lastRecordTime {
            restarts += 1
            lastRecordID = 0
            lastRecordTime = 0
        }
        var events: [(event: WindowsEvent, written: UInt64, id: UInt64)] = []
        let after = lastRecordID
        // The chunk the place is in: records written into it since (its header's last id
        // may not say so yet) come before those of newer chunks.
        let home = chunks.filter { $0.first <= after }.max(by: { $0.first < $1.first })
        // The record headers' numbers (an event's EventRecordID can differ: carved files).
        var lastID = after
        // The chunk being written may not have its header's last id updated yet: always read it.
        for chunk in chunks.sorted(by: { $0.first < $1.first })
        where chunk.last > after || chunk.index == newest.index || chunk.index == home?.index {
            guard events.count < limit else {
                moreWaiting = true
                break
            }
            let offset = Int64(EvtxFile.fileHeaderSize + chunk.index * EvtxFile.chunkSize)
            guard file.read(&buffer, count: EvtxFile.chunkSize, at: offset) == EvtxFile.chunkSize else { continue }
            var stats = EvtxStatistics()
            var collector = self.collector
            var stop = false
            var skipped = 0
            var lastTime = lastRecordTime
            buffer.withUnsafeBytes { raw in
                // Once the batch is full the chunk's other records wait for the next read
                // (not expanded now and thrown away).
                EvtxFile.readChunk(raw, after: lastID, statistics: &stats, collector: &collector, stopAtUnfinished: true, until: { stop }) { c, recordID, written in
                    guard !stop, recordID > lastID else { return }
                    // A number far past its chunk's (a damaged or crafted record) would move
                    // the place where no record will ever follow: skipped and counted.
                    let base = max(chunk.first, lastID)
                    guard recordID <= (base > UInt64.max - Self.maxJump ? UInt64.max : base + Self.maxJump) else {
                        skipped += 1
                        return
                    }
                    let time = UInt64(bitPattern: written)
                    events.append((c.finish(recordID: recordID, headerMicroseconds: written), time, recordID))
                    lastTime = time
                    lastID = recordID
                    if events.count >= limit { stop = true }
                }
            }
            self.collector = collector
            stats.damagedRecords += skipped
            statistics.add(stats)
            lastRecordTime = lastTime
            if let seen = stats.highestRecordID { highestInFile = max(highestInFile ?? 0, seen) }
            if stop { moreWaiting = true }
        }
        lastRecordID = lastID
        return events
    }
}
