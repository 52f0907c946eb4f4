import Synchronization

/// The edge's counters, reported in every heartbeat.
package final class EdgeCounters: Sendable {
    package enum Name: String, Sendable, CaseIterable {
        case linesRead = "lines_read"
        case events
        case framesBuilt = "frames_built"
        case framesSent = "frames_sent"
        case datagramsSent = "datagrams_sent"
        case heartbeatsSent = "heartbeats_sent"
        case connects
        case disconnects
        /// Frames the spool could not write (disk full, I/O error); their events stayed
        /// pending and the sources were read no further until it could.
        case spoolFailures = "spool_failures"
    }

    private let values = Mutex<[Name: UInt64]>([:])

    package init() {}

    package func add(_ name: Name, _ amount: Int = 1) {
        values.withLock { $0[name, default: 0] += UInt64(amount) }
    }

    package subscript(name: Name) -> UInt64 { values.withLock { $0[name] ?? 0 } }

    package func snapshot() -> [String: UInt64] {
        values.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.rawValue, $0.value) }) }
    }
}
