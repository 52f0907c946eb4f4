import Foundation
import GRDB
import Relay
import Synchronization
import Testing
import TestSupport

/// The store cannot be written for a while (here another connection holds SQLite's write
/// lock, as an operator's `sqlite3` shell left in a transaction does; a full disk fails the
/// same way): the relay keeps the events and alerts in memory, says so on /healthz (503,
/// `store_unwritable`) and in `relay_store_errors_total`, tries again, and once the store
/// takes writes, the incident is stored and its alert delivered: nothing lost.
@Suite("A store that cannot be written", .serialized)
struct StoreFaultTests {
    @Test func aLockedStoreIsReportedRetriedAndLosesNoAlert() async throws {
        let fake = try await FakeDingTalk()
        let relay = try await DeliveryTests.relay(fake)
        let port = try #require(relay.httpPort)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let blocker = try DatabaseQueue(path: relay.app.store.path, configuration: configuration)
        // The lock is held in a transaction on a thread of its own until `release`; no
        // thread of the test's pool ever waits on it.
        let held = Atomic<Int>(0), release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? blocker.inTransaction(.immediate) { _ in
                held.store(1, ordering: .relaxed)
                release.wait()
                return .commit
            }
            held.store(2, ordering: .relaxed)
        }
        #expect(await relay.wait(timeout: .seconds(30)) { held.load(ordering: .relaxed) != 0 })
        try #require(held.load(ordering: .relaxed) == 1, "the lock was not taken")
        var locked = true
        defer { if locked { release.signal() } }

        try await DeliveryTests.bruteForce(relay, from: "203.0.113.90", sequence: 1)
        // A write waits 5 s for the lock, then fails.
        #expect(await relay.wait(timeout: .seconds(30)) { relay.counter("relay_store_errors_total") >= 1 })
        let unhealthy = try await Send.httpGet(port: port, path: "/healthz")
        #expect(unhealthy.status == 503 && unhealthy.body.contains("store_unwritable"), "\(unhealthy.status) \(unhealthy.body)")
        #expect(fake.accepted.isEmpty, "an alert went before its incident was stored")
        #expect(try relay.app.store.recentIncidents().isEmpty)

        release.signal()
        locked = false
        let delivered = await relay.wait(timeout: .seconds(30)) {
            fake.accepted.count == 1 && (try? relay.app.store.outbox(status: .delivered).count) == 1
        }
        let healthy = try await Send.httpGet(port: port, path: "/healthz")
        let incidents = try relay.app.store.recentIncidents()
        await relay.stop()
        await fake.stop()
        #expect(delivered, "the alert did not arrive once the store took writes")
        #expect(healthy.status == 200 && healthy.body.contains("\"ok\""), "\(healthy.status) \(healthy.body)")
        #expect(incidents.count == 1 && incidents.first?.kind == "brute_force", "\(incidents.map(\.kind))")
        #expect(fake.accepted.first?.text.contains("203.0.113.90") == true)
        #expect(relay.counter("relay_dropped_total{reason=\"store_unwritable\"}") == 0)
    }
}
