import Synchronization

/// Named counters, one place for every count the relay keeps (received, rejected by reason,
/// dropped, reassembled). Names follow Prometheus conventions, labels included:
/// `relay_rejected_total{reason="bad_mac"}`.
public final class Counters: Sendable {
    private let values = Mutex<[String: Int]>([:])

    public init() {}

    public func add(_ name: String, _ amount: Int = 1) {
        values.withLock { $0[name, default: 0] += amount }
    }

    public subscript(name: String) -> Int {
        values.withLock { $0[name] ?? 0 }
    }

    public func snapshot() -> [String: Int] {
        values.withLock { $0 }
    }
}
