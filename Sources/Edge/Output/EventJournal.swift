import Foundation
import Wire

/// The host's own record of what the edge detected: JSON lines, rotated by size
/// (`events.jsonl` → `events.jsonl.1` → ..., `keep` old files).
final class EventJournal {
    let path: String
    let maxBytes: Int
    let keep: Int
    private var handle: FileHandle?
    private var size: Int = 0
    private var buffer: [UInt8] = []

    init(path: String, maxBytes: Int, keep: Int) {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
    }

    func append(_ event: Event) {
        event.appendJSON(to: &buffer)
        buffer.append(0x0A)
    }

    /// Writes what was appended (called once per batch).
    func flush() {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        if handle == nil { open() }
        guard let handle else {
            failedWrites += 1
            return
        }
        do {
            // `write(_:)` traps on an error: a local user who fills the disk would kill the
            // edge, again after every restart. The journal is the host's copy; the relay
            // still gets every event.
            try handle.write(contentsOf: buffer)
            size += buffer.count
        } catch {
            failedWrites += 1
            try? handle.close()
            self.handle = nil
        }
        if size >= maxBytes { rotate() }
    }

    /// Batches that could not be written (disk full, I/O error).
    private(set) var failedWrites = 0

    private func open() {
        try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
        }
        handle = FileHandle(forWritingAtPath: path)
        size = Int((try? handle?.seekToEnd()) ?? 0)
    }

    private func rotate() {
        try? handle?.close()
        handle = nil
        let fm = FileManager.default
        if keep == 0 {
            try? fm.removeItem(atPath: path)
        } else {
            try? fm.removeItem(atPath: "\(path).\(keep)")
            for i in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(i)") {
                try? fm.moveItem(atPath: "\(path).\(i)", toPath: "\(path).\(i + 1)")
            }
            try? fm.moveItem(atPath: path, toPath: "\(path).1")
        }
        size = 0
    }
}
