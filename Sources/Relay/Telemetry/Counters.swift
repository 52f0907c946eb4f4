import Foundation
import Prometheus
import Synchronization

/// Named counters, one place for every count the relay keeps (received, rejected by reason,
/// dropped, reassembled, correlated). Names follow Prometheus conventions, labels included:
/// `relay_rejected_total{reason="bad_mac"}`. Each is also a counter of a Prometheus
/// registry, which `/metrics` exposes together with the relay's gauges.
package final class Counters: Sendable {
    /// One counter, for hot paths that count without looking the name up each time.
    package final class Handle: Sendable {
        let value = Atomic<Int>(0)
        let counter: Prometheus.Counter

        init(_ counter: Prometheus.Counter) { self.counter = counter }

        package func add(_ amount: Int = 1) {
            value.wrappingAdd(amount, ordering: .relaxed)
            counter.increment(by: Int64(amount))
        }
    }

    private let handles = Mutex<[String: Handle]>([:])
    package let registry = PrometheusCollectorRegistry()

    package init() {}

    /// The counter called `name` (made on first use).
    package func handle(_ name: String) -> Handle {
        handles.withLock { handles in
            if let h = handles[name] { return h }
            let (metric, labels) = Self.split(name)
            let h = Handle(registry.makeCounter(descriptor: MetricNameDescriptor(metricName: metric, unitName: "", helpText: ""), labels: labels))
            handles[name] = h
            return h
        }
    }

    package func add(_ name: String, _ amount: Int = 1) {
        handle(name).add(amount)
    }

    package subscript(name: String) -> Int {
        handles.withLock { $0[name]?.value.load(ordering: .relaxed) ?? 0 }
    }

    package func snapshot() -> [String: Int] {
        handles.withLock { $0.mapValues { $0.value.load(ordering: .relaxed) } }
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
