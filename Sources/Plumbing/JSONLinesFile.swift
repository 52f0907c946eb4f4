import Foundation
import Synchronization

/// A file of JSON lines, rotated by size: before a write that would take it past `maxBytes`,
/// `name` becomes `name.1` (older copies shift up to `name.keep`; with `keep` 0 it is
/// removed). The edge's events.jsonl and the relay's incidents.jsonl.
///
/// A write that fails (a full disk, an I/O error) is counted, never fatal: Foundation's
/// `FileHandle.write(_:)` traps on an error, and a local user who fills the disk must not
/// stop the alarm. The next write opens the file again.
package final class JSONLinesFile: Sendable {
    package let path: String
    package let maxBytes: Int
    package let keep: Int
    /// Permissions of a file this creates (0600: the relay's; 0640: the host's own record).
    package let permissions: Int

    private struct State {
        var handle: FileHandle?
        var size = 0
        var failedWrites = 0
    }

    private let state = Mutex(State())

    package init(path: String, maxBytes: Int, keep: Int, permissions: Int = 0o600) {
        self.path = path
        self.maxBytes = max(1, maxBytes)
        self.keep = max(0, keep)
        self.permissions = permissions
    }

    /// Writes `lines` (whole lines, each ending in a newline).
    package func write(_ lines: [UInt8]) {
        guard !lines.isEmpty else { return }
        state.withLock { s in
            if s.handle == nil { open(&s) }
            if s.size > 0, s.size + lines.count > maxBytes {
                rotate(&s)
                open(&s)
            }
            guard let handle = s.handle else {
                s.failedWrites += 1
                return
            }
            do {
                try handle.write(contentsOf: lines)
                s.size += lines.count
            } catch {
                s.failedWrites += 1
                try? handle.close()
                s.handle = nil
            }
        }
    }

    /// Writes that failed (disk full, I/O error, the file cannot be opened) since the start.
    package var failedWrites: Int { state.withLock { $0.failedWrites } }

    package func close() {
        state.withLock { s in
            try? s.handle?.synchronize()
            try? s.handle?.close()
            s.handle = nil
        }
    }

    private func open(_ s: inout State) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: path) { _ = fm.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: permissions]) }
        s.handle = FileHandle(forWritingAtPath: path)
        s.size = Int((try? s.handle?.seekToEnd()) ?? 0)
    }

    private func rotate(_ s: inout State) {
        try? s.handle?.close()
        s.handle = nil
        s.size = 0
        let fm = FileManager.default
        guard keep > 0 else {
            try? fm.removeItem(atPath: path)
            return
        }
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for n in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(n)") {
            try? fm.moveItem(atPath: "\(path).\(n)", toPath: "\(path).\(n + 1)")
        }
        try? fm.moveItem(atPath: path, toPath: "\(path).1")
    }
}
