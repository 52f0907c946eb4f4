import Plumbing
import Wire

/// The host's own record of what the edge detected: JSON lines, rotated by size
/// (`events.jsonl` → `events.jsonl.1` → ..., `keep` old files), readable by the file's group.
final class EventJournal {
    let file: JSONLinesFile
    private var buffer: [UInt8] = []

    init(path: String, maxBytes: Int, keep: Int) {
        file = JSONLinesFile(path: path, maxBytes: maxBytes, keep: keep, permissions: 0o640)
    }

    var path: String { file.path }

    func append(_ event: Event) {
        event.appendJSON(to: &buffer)
        buffer.append(0x0A)
    }

    /// Writes what was appended (called once per batch).
    func flush() {
        guard !buffer.isEmpty else { return }
        file.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Batches that could not be written (disk full, I/O error): the journal is the host's
    /// copy; the relay still gets every event.
    var failedWrites: Int { file.failedWrites }
}
