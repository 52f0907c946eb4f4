import Foundation
import Logging
import Plumbing
import ServiceLifecycle
import Synchronization
import Wire

/// The one consumer of the intake: stores every event, correlates them into incidents,
/// writes the incident journal and tells observers (the console, delivery, tests).
///
/// Events and incident changes are written to the store in batches, one transaction at
/// most every `flushInterval` or every `flushEvents` events, so the store keeps up with
/// the intake; correlation happens at once, in memory.
package final class Pipeline: Service, Sendable {
    package struct Settings: Sendable {
        /// Events kept in the store, in days.
        package var eventRetentionDays = 30
        /// Closed incidents kept in the store, in days.
        package var incidentRetentionDays = 180
        /// Most bytes the store may hold; past it the oldest events are deleted (checked every
        /// 10 s: a flood of 80,000 events a second adds ~25 MB a second).
        package var maxStoreBytes: Int64 = 8 << 30
        package var flushInterval: Duration = .milliseconds(250)
        /// (65,536, so that under a flood the interval decides: each flush also rewrites
        /// every incident that changed, and under a brute force from many sources that is
        /// most of the open ones.)
        package var flushEvents = 65_536
        /// Pending events kept in memory while the store cannot be written (disk full);
        /// past it the oldest are dropped and counted. Incidents are never dropped.
        package var maxUnwrittenEvents = 1_000_000
        package init() {}
    }

    package typealias ItemObserver = @Sendable (IntakeItem) -> Void
    package typealias IncidentObserver = @Sendable (IncidentChange) -> Void

    let intake: Intake
    /// Where the pipeline's work runs (correlation and the store's writes): a slow disk holds
    /// up the pipeline alone, never the listeners, delivery or the status page.
    private let storeQueue = DispatchQueue(label: "relay-pipeline")
    /// The time of day: events' arrival, incidents' windows, the store's times.
    let clock: WallClock
    package let store: Store
    let journal: IncidentJournal?
    let settings: Settings
    let logger: Logger
    private let state: Mutex<State>
    /// Counted once per event of an open incident: a handle, not a name looked up each time.
    private let incidentEvents: Counters.Handle
    /// Serialises store writes (the consumer and the timer both flush).
    private let writing = Mutex<Void>(())
    private let storeOK = Atomic<Bool>(true)
    private let itemObservers = Mutex<[ItemObserver]>([])
    private let incidentObservers = Mutex<[IncidentObserver]>([])

    struct State: Sendable {
        var correlator: Correlator
        var events: [Store.StoredEvent] = []
        var incidents: [Int64: Incident] = [:]
        var lastPrune: Int64 = 0
        var lastQuotaCheck: Int64 = 0
        /// The replay windows of the frames handled here, by edge: written in the same
        /// transaction as the events they admitted, so after a crash the relay refuses
        /// exactly the frames whose events it stored (an edge's resend of the others is
        /// taken, and nothing is stored twice).
        var committed: [String: EdgeSequenceState] = [:]
        var changedWindows: Set<String> = []
        /// Alerts to queue in the next flush, with their incidents.
        var outbox: [(incident: Int64, channels: [String])] = []
    }

    /// State entries `window:<edge>` hold the committed replay windows.
    package static let windowPrefix = "window:"

    /// Which channels a change alerts (set by the composition when channels exist), and who
    /// hears that alerts were queued.
    package typealias AlertRoute = @Sendable (IncidentChange) -> [String]
    private let route = Mutex<(route: AlertRoute, queued: @Sendable (Int) -> Void)?>(nil)

    /// Alerts are queued in the transaction that stores their incident: a crash cannot leave
    /// one without the other, and an incident's count never includes events that were not
    /// stored with it. `queued` is called after each commit that queued alerts.
    package func routeAlerts(_ route: @escaping AlertRoute, queued: @escaping @Sendable (Int) -> Void) {
        self.route.withLock { $0 = (route, queued) }
    }

    package init(intake: Intake, store: Store, journal: IncidentJournal?, rules: [CorrelationRule], allowlist: [Allowance],
                settings: Settings = Settings(), clock: WallClock = .system, logger: Logger) throws {
        self.intake = intake
        self.clock = clock
        incidentEvents = intake.counters.handle("relay_incident_events_total")
        self.store = store
        self.journal = journal
        self.settings = settings
        self.logger = logger
        // Incidents still open when the relay stopped keep counting after the restart.
        let open = try store.openIncidents()
        let correlator = Correlator(rules: rules, allowlist: allowlist, open: open, nextID: try store.maxIncidentID() + 1)
        var initial = State(correlator: correlator)
        initial.committed = try Intake.committedWindows(store)
        // Written again at the first flush: windows read from an older store's registry must
        // become `window:` entries before that registry is saved without them.
        initial.changedWindows = Set(initial.committed.keys)
        state = Mutex(initial)
    }

    /// Called for every intake item (before it is stored). Register before `run`. (Plain
    /// syslog without events is no item: `Intake.observePlain` shows it.)
    package func observe(items observer: @escaping ItemObserver) {
        itemObservers.withLock { $0.append(observer) }
    }
    /// Called for every incident change, in order. Register before `run`.
    package func observe(incidents observer: @escaping IncidentObserver) { incidentObservers.withLock { $0.append(observer) } }

    package func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                // Closes quiet incidents and writes what is pending, even when nothing arrives.
                while !Task.isCancelled {
                    guard (try? await Task.sleep(for: self.settings.flushInterval)) != nil else { break }
                    await self.storeQueue.result { self.tick() }
                }
            }
            group.addTask {
                // Relay events a full queue could not take: never dropped, handled here.
                while !Task.isCancelled {
                    guard (try? await Task.sleep(for: .milliseconds(100))) != nil else { break }
                    let held = self.intake.takeHeldRelayEvents()
                    if !held.isEmpty { await self.storeQueue.result { for event in held { self.handle(.relay(event)) } } }
                }
            }
            await cancelWhenGracefulShutdown {
                while let batch = await self.intake.queue.next() {
                    await self.storeQueue.result { self.handle(batch) }
                }
            }
            group.cancelAll()
        }
        await storeQueue.result { self.tick() }
        journal?.close()
    }

    /// Processes one item (tests; the relay takes batches).
    package func handle(_ item: IntakeItem, arrival: Int64? = nil) {
        process(CollectionOfOne(item), arrival: arrival ?? clock.now)
    }

    /// Processes what the queue held, up to 1,024 items per hold of the state's lock.
    package func handle(_ batch: [IntakeItem]) {
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + 1024)
            process(batch[start..<end], arrival: clock.now)
            start = end
        }
    }

    private func process(_ items: some Collection<IntakeItem>, arrival: Int64) {
        let observers = itemObservers.withLock { $0 }
        if !observers.isEmpty {
            for item in items { for observer in observers { observer(item) } }
        }
        let route = self.route.withLock { $0?.route }
        let (changes, full) = state.withLock { s -> ([IncidentChange], Bool) in
            var changes: [IncidentChange] = []
            func take(_ events: [Event], edge: String?, sender: String?) {
                for e in events {
                    s.events.append(Store.StoredEvent(event: e, arrival: arrival, edge: edge, sender: sender))
                    changes += s.correlator.process(e, edge: edge, arrival: arrival)
                }
            }
            let evictedBefore = s.correlator.statistics.evicted
            defer {
                let evicted = s.correlator.statistics.evicted - evictedBefore
                if evicted > 0 { intake.counters.add("relay_incidents_evicted_total", evicted) }
            }
            for item in items {
                switch item {
                case .frame(let delivery, let sender):
                    let edge = delivery.frame.edgeID.rawValue
                    s.committed[edge, default: EdgeSequenceState()].record(epoch: delivery.frame.epoch, sequence: delivery.frame.sequence)
                    s.changedWindows.insert(edge)
                    if case .events(let events) = delivery.body { take(events, edge: edge, sender: sender) }
                case .detected(let events, let sender):
                    take(events, edge: nil, sender: sender)
                case .relay(let event):
                    take([event], edge: event.host, sender: nil)
                }
            }
            // An incident that only counted several times in this batch is reported once, as
            // it stands after the last: one copy per incident, not one per event.
            var lastUpdate: [Int64: Int] = [:]
            for (i, c) in changes.enumerated() { if case .updated(let incident) = c { lastUpdate[incident.id] = i } }
            if lastUpdate.count < changes.count {
                changes = changes.enumerated().compactMap { i, c in
                    if case .updated(let incident) = c, lastUpdate[incident.id] != i { return nil }
                    return c
                }
            }
            var alerting = false
            for c in changes {
                s.incidents[c.incident.id] = c.incident
                if let route, case let channels = route(c), !channels.isEmpty {
                    s.outbox.append((c.incident.id, channels))
                    alerting = true
                }
            }
            // An alert waits for no batch: it is written (with its incident) at once.
            return (changes, alerting || s.events.count >= settings.flushEvents)
        }
        publish(changes)
        if full { flush() }
    }

    /// Closes quiet incidents, writes pending events and incidents, prunes once an hour.
    package func tick(now: Int64? = nil) {
        let now = now ?? clock.now
        let changes = state.withLock { s in
            let changes = s.correlator.tick(now: now)
            for c in changes { s.incidents[c.incident.id] = c.incident }
            return changes
        }
        publish(changes)
        flush()
        let due = state.withLock { s -> Bool in
            guard now - s.lastPrune >= 3_600_000_000 else { return false }
            s.lastPrune = now
            return true
        }
        if due { prune(now: now) }
        let quotaDue = state.withLock { s -> Bool in
            guard now - s.lastQuotaCheck >= 10_000_000 else { return false }
            s.lastQuotaCheck = now
            return true
        }
        if quotaDue { enforceQuota() }
    }

    /// Keeps the store within `maxStoreBytes`: the oldest events go first (to 90% of it),
    /// counted and logged.
    func enforceQuota() {
        do {
            guard try store.usedBytes() > settings.maxStoreBytes else { return }
            let deleted = try writing.withLock { _ in try store.shrink(toBytes: settings.maxStoreBytes / 10 * 9) }
            if deleted > 0 {
                intake.counters.add("relay_store_quota_deleted_total", deleted)
                logger.warning("store over its quota: oldest events deleted", metadata: ["events": "\(deleted)", "max_bytes": "\(settings.maxStoreBytes)"])
            }
        } catch {
            logger.error("cannot keep the store within its quota", metadata: ["error": "\(error)"])
        }
    }

    /// Writes what is pending to the store now.
    package func flush() {
        writing.withLock { _ in
            let (events, incidents, outbox, windows) = state.withLock { s in
                defer {
                    s.events.removeAll(keepingCapacity: true)
                    s.incidents.removeAll(keepingCapacity: true)
                    s.outbox.removeAll()
                    s.changedWindows.removeAll()
                }
                let windows = s.changedWindows.sorted().compactMap { edge in s.committed[edge].map { (edge, $0) } }
                return (s.events, s.incidents.values.sorted { $0.id < $1.id }, s.outbox, windows)
            }
            guard !events.isEmpty || !incidents.isEmpty || !outbox.isEmpty || !windows.isEmpty else { return }
            let encoder = JSONEncoder()
            let entries = windows.compactMap { edge, window in (try? encoder.encode(window)).map { (Self.windowPrefix + edge, $0) } }
            do {
                try store.write(events: events, incidents: incidents, outbox: outbox, state: entries, now: clock.now)
                storeOK.store(true, ordering: .relaxed)
                intake.counters.add("relay_stored_events_total", events.count)
                if !outbox.isEmpty {
                    let rows = outbox.reduce(0) { $0 + $1.channels.count }
                    intake.counters.add("relay_alerts_queued_total", rows)
                    route.withLock { $0?.queued }?(rows)
                }
            } catch {
                storeOK.store(false, ordering: .relaxed)
                intake.counters.add("relay_store_errors_total")
                logger.error("cannot write to the store; will retry", metadata: ["error": "\(error)", "store": "\(store.path)"])
                state.withLock { s in
                    // Put them back in front of what came since; incidents newer win.
                    s.events = events + s.events
                    if s.events.count > settings.maxUnwrittenEvents {
                        let excess = s.events.count - settings.maxUnwrittenEvents
                        s.events.removeFirst(excess)
                        intake.counters.add("relay_dropped_total{reason=\"store_unwritable\"}", excess)
                    }
                    for i in incidents where s.incidents[i.id] == nil { s.incidents[i.id] = i }
                    // Alerts are kept in memory until they can be written: never lost.
                    s.outbox = outbox + s.outbox
                    s.changedWindows.formUnion(windows.map(\.0))
                }
            }
        }
    }

    func prune(now: Int64) {
        let day: Int64 = 86_400_000_000
        do {
            let (events, incidents) = try store.prune(
                eventsBefore: now - Int64(settings.eventRetentionDays) * day, incidentsBefore: now - Int64(settings.incidentRetentionDays) * day)
            try store.pruneOutbox(before: now - Int64(settings.eventRetentionDays) * day)
            if events + incidents > 0 {
                logger.info("retention: removed old records", metadata: ["events": "\(events)", "incidents": "\(incidents)"])
            }
        } catch {
            logger.error("cannot prune the store", metadata: ["error": "\(error)"])
        }
    }

    private func publish(_ changes: [IncidentChange]) {
        guard !changes.isEmpty else { return }
        let observers = incidentObservers.withLock { $0 }
        for change in changes {
            switch change {
            case .opened(let i): intake.counters.add("relay_incidents_opened_total{severity=\"\(i.severity.rawValue)\"}")
            case .closed: intake.counters.add("relay_incidents_closed_total")
            case .updated: incidentEvents.add()
            case .escalated(let i, _):
                intake.counters.add("relay_incident_events_total")
                intake.counters.add("relay_incidents_escalated_total{severity=\"\(i.severity.rawValue)\"}")
            }
            journal?.record(change)
            for observer in observers { observer(change) }
        }
    }

    /// False after a failed write to the store, until a write succeeds.
    package var storeHealthy: Bool { storeOK.load(ordering: .relaxed) }

    package var openIncidents: [Incident] { state.withLock { Array($0.correlator.open.values).sorted { $0.id < $1.id } } }
    /// How many incidents are open (without copying them).
    package var openIncidentCount: Int { state.withLock { $0.correlator.open.count } }

}
