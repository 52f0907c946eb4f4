import Foundation
import Prometheus
import Synchronization

/// Named counters, one place for every count the relay keeps (received, rejected by reason,
/// dropped, reassembled, correlated). Names follow Prometheus conventions, labels included:
/// `relay_rejected_total{reason="bad_mac"}`. Each is also a counter of a Prometheus
/// registry, which `/metrics` exposes together with the relay's gauges.
public final class Counters: Sendable {
    private let values = Mutex<[String: (value: Int, counter: Prometheus.Counter)]>([:])
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    public func add(_ name: String, _ amount: Int = 1) {
        values.withLock { values in
            if let entry = values[name] {
                values[name] = (entry.value + amount, entry.counter)
                entry.counter.increment(by: Int64(amount))
            } else {
                let (metric, labels) = Self.split(name)
                let counter = registry.makeCounter(name: metric, labels: labels)
                counter.increment(by: Int64(amount))
                values[name] = (amount, counter)
            }
        }
    }

    public subscript(name: String) -> Int {
        values.withLock { $0[name]?.value ?? 0 }
    }

    public func snapshot() -> [String: Int] {
        values.withLock { $0.mapValues(\.value) }
    }

    /// `name{a="x",b="y"}` → ("name", [("a", "x"), ("b", "y")]).
    static func split(_ key: String) -> (String, [(String, String)]) {
        guard let open = key.firstIndex(of: "{"), key.hasSuffix("}") else { return (key, []) }
        let inner = key[key.index(after: open)..<key.index(before: key.endIndex)]
        let labels = inner.split(separator: ",").compactMap { pair -> (String, String)? in
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            let value = pair[pair.index(after: eq)...].trimmingCharacters(in: ["\""])
            return (String(pair[..<eq]), value)
        }
        return (String(key[..<open]), labels)
    }
}
