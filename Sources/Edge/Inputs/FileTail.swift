import Foundation
import Platform

/// Where a follower stands in a file: which file (device and inode, and a fingerprint of
/// its first bytes, since inodes are reused), and the offset just after the last complete
/// line handed on. Persisted, it lets a restart resume exactly there.
package struct FileCheckpoint: Codable, Hashable, Sendable {
    package var path: String
    package var device: UInt64
    package var inode: UInt64
    package var offset: Int64
    /// FNV-1a of the first `fingerprintBytes` bytes of the file.
    package var fingerprint: UInt64
    package var fingerprintBytes: Int

    package init(path: String, device: UInt64, inode: UInt64, offset: Int64, fingerprint: UInt64, fingerprintBytes: Int) {
        self.path = path
        self.device = device
        self.inode = inode
        self.offset = offset
        self.fingerprint = fingerprint
        self.fingerprintBytes = fingerprintBytes
    }
}

extension FileCheckpoint {
    /// Within what a follower could have written: an offset not below 0 and a fingerprint of
    /// at most the bytes it reads for one. A state or spool file saying otherwise is damaged
    /// (a fingerprint of 4 GiB would be read into memory at every start).
    package var isPlausible: Bool {
        offset >= 0 && (0...FileTail.fingerprintSpan).contains(fingerprintBytes)
    }
}

/// Reads the complete lines appended to one log file, across rotations.
///
/// Survives rename-and-create (finishes the old file through its open descriptor, then
/// reads the new one from the start), copytruncate (notices the file got shorter, takes the
/// lines it had not read yet from the rotated copy when that copy is beside it, then reads
/// the file from the start), a file that disappears and comes back, and half-written lines
/// (held until their newline arrives; a rotated file's unterminated last line is handed on
/// when the file is left). Synchronous and free of timers: the caller decides when to look
/// (FileWatcher wakes it on inotify events).
package final class FileTail {
    package struct Line: Sendable {
        package var bytes: [UInt8]
        /// The file it came from (a rotated file's name when drained from it).
        package var path: String
        /// Where to resume after this line.
        package var checkpoint: FileCheckpoint
    }

    package enum StartAt: String, Sendable, Codable {
        /// First run: only lines written from now on.
        case end
        /// First run: the whole file.
        case beginning
    }

    package let path: String
    /// Longest line kept; the rest of a longer line is dropped (and counted).
    package let maxLineBytes: Int
    static let fingerprintSpan = 256

    private var file: ReadableFile?
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    /// File offset of the next byte to read.
    private var readOffset: Int64 = 0
    /// Bytes read after the last complete line.
    private var partial: [UInt8] = []
    /// Dropping the rest of an overlong line until its newline.
    private var skippingLongLine = false
    private var fingerprint: UInt64 = 0
    private var fingerprintBytes = 0
    private var pendingStart: (checkpoint: FileCheckpoint?, startAt: StartAt)?

    /// Lines dropped or cut because they were longer than `maxLineBytes`.
    package private(set) var overlongLines = 0
    /// Times the file was found rotated or truncated.
    package private(set) var rotations = 0
    /// Human-readable state for heartbeats: `following`, `waiting` (no file yet).
    package var state: String { file != nil ? "following" : (notRegular ? "not a regular file" : "waiting") }

    /// The path names something other than a regular file (a FIFO, a device, a socket): it
    /// is not read. Opening a FIFO for reading blocks until someone writes to it, so any
    /// local user who could put one at a log path could stall the edge.
    package private(set) var notRegular = false

    package init(path: String, checkpoint: FileCheckpoint?, startAt: StartAt, maxLineBytes: Int = 64 * 1024) {
        self.path = path
        self.maxLineBytes = maxLineBytes
        pendingStart = (checkpoint?.path == path && checkpoint?.isPlausible == true ? checkpoint : nil, startAt)
    }

    /// The position after the last line handed on, or nil before the file was ever opened.
    package var checkpoint: FileCheckpoint? {
        guard file != nil || inode != 0 else { return nil }
        return FileCheckpoint(
            path: path, device: device, inode: inode, offset: readOffset - Int64(partial.count),
            fingerprint: fingerprint, fingerprintBytes: fingerprintBytes)
    }

    /// Reads everything new, at most about `maxBytes`; returns the complete lines.
    package func read(maxBytes: Int = 1 << 20) -> [Line] {
        var lines: [Line] = []
        if let start = pendingStart {
            guard open(start.checkpoint, start.startAt, into: &lines) else { return lines }
            pendingStart = nil
        }
        if file == nil {
            // The file was gone: it may be back.
            guard openCurrent(at: 0) else { return lines }
        }
        // A copytruncate followed by new writes can leave the file as long as before: its
        // first bytes tell.
        if let file, fingerprintBytes > 0, !matchesFingerprint(file, fingerprint, fingerprintBytes) {
            truncated(into: &lines)
        }
        var budget = maxBytes
        while budget > 0 {
            let got = readChunk(into: &lines, limit: min(budget, 1 << 16))
            if got > 0 {
                budget -= got
                continue
            }
            // At the end of what this descriptor has: has the file moved on?
            if handleRotation(into: &lines) { continue }
            break
        }
        return lines
    }

    // MARK: - Opening

    /// First open: from the checkpoint when it still describes the file, else per `startAt`.
    private func open(_ checkpoint: FileCheckpoint?, _ startAt: StartAt, into lines: inout [Line]) -> Bool {
        guard let checkpoint else {
            guard openCurrent(at: nil) else { return false }
            if startAt == .end {
                readOffset = file?.size ?? 0
                partial = []
            }
            return true
        }
        let current = ReadableFile.facts(of: path)
        if let current, current.device == checkpoint.device, current.number == checkpoint.inode,
            matchesFingerprint(path: path, checkpoint), current.size >= checkpoint.offset
        {
            return openCurrent(at: checkpoint.offset)
        }
        // The file changed while we were stopped: finish the one we were reading, if it is
        // still beside it (renamed, or the copy of a copytruncate), then take the new one whole.
        if let previous = rotatedCandidate(for: checkpoint) {
            drain(previous, from: checkpoint.offset, into: &lines)
        }
        rotations += 1
        return openCurrent(at: 0)
    }

    /// Opens `path`; `offset` nil means wherever `startAt` says (the caller adjusts).
    private func openCurrent(at offset: Int64?) -> Bool {
        guard let opened = ReadableFile.open(path) else {
            notRegular = ReadableFile.isOtherThanAFile(path)
            return false
        }
        notRegular = false
        file = opened
        device = opened.opened.device
        inode = opened.opened.number
        readOffset = offset ?? 0
        partial = []
        skippingLongLine = false
        fingerprint = 0
        fingerprintBytes = 0
        updateFingerprint()
        return true
    }

    // MARK: - Reading

    private func readChunk(into lines: inout [Line], limit: Int) -> Int {
        guard let file else { return 0 }
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = file.read(&buffer, count: limit, at: readOffset)
        guard n > 0 else { return 0 }
        readOffset += Int64(n)
        if fingerprintBytes < Self.fingerprintSpan { updateFingerprint() }
        split(buffer[0..<n], into: &lines)
        return n
    }

    /// `chunk` was just read and ends at `readOffset`.
    private func split(_ chunk: ArraySlice<UInt8>, into lines: inout [Line]) {
        var start = chunk.startIndex
        let chunkStart = readOffset - Int64(chunk.count)
        while let lf = chunk[start...].firstIndex(of: 0x0A) {
            if skippingLongLine {
                skippingLongLine = false
            } else {
                partial.append(contentsOf: chunk[start..<lf])
                emit(&lines, endingAt: chunkStart + Int64(lf - chunk.startIndex) + 1)
            }
            partial = []
            start = lf + 1
        }
        if skippingLongLine { return }
        partial.append(contentsOf: chunk[start...])
        if partial.count > maxLineBytes {
            // Hand on the first maxLineBytes; drop the rest up to the next newline. The
            // checkpoint still counts the dropped bytes (readOffset moves on), so a restart
            // does not read them again.
            emit(&lines, endingAt: readOffset)
            partial = []
            skippingLongLine = true
        }
    }

    /// Hands on `partial` as a line; the file position after it is `end`.
    private func emit(_ lines: inout [Line], endingAt end: Int64) {
        var line = partial
        if line.last == 0x0D { line.removeLast() }
        if line.count > maxLineBytes {
            line.removeLast(line.count - maxLineBytes)
            overlongLines += 1
        }
        let checkpoint = FileCheckpoint(
            path: path, device: device, inode: inode, offset: end, fingerprint: fingerprint, fingerprintBytes: fingerprintBytes)
        lines.append(Line(bytes: line, path: path, checkpoint: checkpoint))
    }

    // MARK: - Rotation

    /// At EOF: the path now names another file, or this file got shorter. Returns true when
    /// it switched to something with more to read.
    private func handleRotation(into lines: inout [Line]) -> Bool {
        let size = file?.size ?? 0
        if size < readOffset {
            truncated(into: &lines)
            return size > 0
        }
        guard let current = ReadableFile.facts(of: path) else { return false }  // gone: keep the old descriptor
        guard current.device != device || current.number != inode else { return false }
        // Renamed away (or deleted) and a new file created at the path. The old descriptor
        // is at its end: hand on an unterminated last line, then switch.
        rotations += 1
        if !partial.isEmpty && !skippingLongLine { emit(&lines, endingAt: readOffset) }
        return openCurrent(at: 0)
    }

    /// copytruncate: the unread tail went to the copy, if there is one beside us; then the
    /// file is read again from its start.
    private func truncated(into lines: inout [Line]) {
        rotations += 1
        let lineStart = readOffset - Int64(partial.count)
        let old = FileCheckpoint(
            path: path, device: device, inode: inode, offset: lineStart, fingerprint: fingerprint, fingerprintBytes: fingerprintBytes)
        if let copy = rotatedCandidate(for: old) {
            partial = []
            drain(copy, from: lineStart, into: &lines)
        } else if !partial.isEmpty {
            // Nothing will complete it; the truncated file starts again at 0.
            emit(&lines, endingAt: 0)
        }
        readOffset = 0
        partial = []
        skippingLongLine = false
        fingerprint = 0
        fingerprintBytes = 0
        updateFingerprint()
    }

    /// A rotated file beside ours that holds the lines of `checkpoint`: the same inode
    /// (renamed), or the same first bytes (a copy), and at least `offset` bytes.
    private func rotatedCandidate(for checkpoint: FileCheckpoint) -> String? {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        let candidates = names.filter { $0 != base && $0.hasPrefix(base) && !$0.hasSuffix(".gz") && !$0.hasSuffix(".xz") && !$0.hasSuffix(".bz2") }
            .sorted()
        for name in candidates {
            let candidate = directory + "/" + name
            guard let id = ReadableFile.facts(of: candidate), id.size >= checkpoint.offset else { continue }
            let sameFile = id.device == checkpoint.device && id.number == checkpoint.inode
            if sameFile || matchesFingerprint(path: candidate, checkpoint) { return candidate }
        }
        return nil
    }

    /// Reads `file` from `offset` to its end as complete lines (an unterminated last line
    /// is handed on too: nothing will complete it).
    private func drain(_ file: String, from offset: Int64, into lines: inout [Line]) {
        guard let other = ReadableFile.open(file) else { return }
        var first = [UInt8](repeating: 0, count: Self.fingerprintSpan)
        let firstCount = other.read(&first, count: Self.fingerprintSpan, at: 0)
        // Checkpoints of drained lines name the rotated file, as the path it had: a restart
        // in the middle finds it again by inode or fingerprint.
        func checkpoint(_ end: Int64) -> FileCheckpoint {
            FileCheckpoint(
                path: path, device: other.opened.device, inode: other.opened.number, offset: end,
                fingerprint: Self.fnv(first[0..<max(0, firstCount)]), fingerprintBytes: max(0, firstCount))
        }
        var position = offset
        var carry: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = other.read(&buffer, count: buffer.count, at: position)
            guard n > 0 else { break }
            position += Int64(n)
            var start = 0
            let chunkStart = position - Int64(n)
            while let lf = buffer[start..<n].firstIndex(of: 0x0A) {
                carry.append(contentsOf: buffer[start..<lf])
                if carry.last == 0x0D { carry.removeLast() }
                lines.append(Line(bytes: Array(carry.prefix(maxLineBytes)), path: file, checkpoint: checkpoint(chunkStart + Int64(lf) + 1)))
                carry = []
                start = lf + 1
            }
            carry.append(contentsOf: buffer[start..<n])
        }
        if !carry.isEmpty { lines.append(Line(bytes: Array(carry.prefix(maxLineBytes)), path: file, checkpoint: checkpoint(position))) }
    }

    // MARK: - File facts

    private func updateFingerprint() {
        guard let file else { return }
        var buffer = [UInt8](repeating: 0, count: Self.fingerprintSpan)
        let n = file.read(&buffer, count: Self.fingerprintSpan, at: 0)
        guard n > 0 else { return }
        fingerprint = Self.fnv(buffer[0..<n])
        fingerprintBytes = n
    }

    private func matchesFingerprint(path: String, _ checkpoint: FileCheckpoint) -> Bool {
        guard checkpoint.fingerprintBytes > 0 else { return true }
        guard let other = ReadableFile.open(path) else { return false }
        return matchesFingerprint(other, checkpoint.fingerprint, checkpoint.fingerprintBytes)
    }

    private func matchesFingerprint(_ file: ReadableFile, _ expected: UInt64, _ count: Int) -> Bool {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = file.read(&buffer, count: count, at: 0)
        return n == count && Self.fnv(buffer[...]) == expected
    }

    static func fnv(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
