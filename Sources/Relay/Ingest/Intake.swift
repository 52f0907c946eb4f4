import Detection
import Foundation
import Logging
import Plumbing
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// What the intake hands on: an authenticated edge frame, or the events the rules found in
/// a plain syslog message (the same rules as the edge's; `host` is the message's HOSTNAME,
/// or the sender's address when it has none). A plain message without events is counted,
/// not handed on; `Intake.observePlain` shows every one (the console, tests).
package enum IntakeItem: Sendable {
    case frame(FrameReceiver.Delivery, sender: String)
    case detected([Event], sender: String)
    /// Raised by the relay itself: edge.restarted, edge.loss, edge.silent.
    case relay(Event)
}

/// Classifies and verifies each received message. Listeners call `handle` from any task;
/// the results come out of `items`, a bounded stream: when its consumer falls behind, new
/// items are dropped and counted rather than queued without limit.
package final class Intake: Sendable {
    private let parser: SyslogParser
    private let detector: Detector
    private let keys: KeyRing
    private let receiver: Mutex<FrameReceiver>
    private let registry = Mutex(EdgeRegistry())
    private let forgeries = Mutex(ForgeryTracker())
    /// Addresses each listed edge may send from; edges not listed may send from anywhere.
    private let edgeSources: [String: [IPRange]]
    /// Senders plain syslog is taken from (nil: all).
    private let plainSyslogFrom: [IPRange]?
    /// Host names each listed edge may speak for (`*`: any).
    private let edgeHosts: [String: [String]]
    package let policy: EdgeRegistry.Policy
    package let counters: Counters
    /// Items for the pipeline, bounded in items and bytes.
    package let queue: IntakeQueue
    private let logger: Logger
    private let store: Store
    /// The store's state entry holding the registry with its replay windows.
    static let registryState = "edges"
    /// What was last saved: a tick that changed nothing writes nothing.
    private let lastSaved = Mutex<Data?>(nil)

    /// The time of day: BSD timestamps (no year) are resolved against it message by
    /// message; frames' freshness and the registry's silences are judged by it.
    let clock: WallClock

    package init(
        configuration: RelayConfiguration, keys: KeyRing, store: Store, detector: Detector = Detector(), counters: Counters = Counters(),
        logger: Logger, clock: WallClock = .system
    ) throws {
        self.clock = clock
        parser = SyslogParser(timeZone: .current, maxMessageBytes: configuration.limits.maxMessageBytes)
        var detector = detector
        // Windows forwarders (NXLog, Winlogbeat, Snare) send plain syslog too.
        detector.readsForwardedWindowsEvents = true
        self.detector = detector
        let receiver = try FrameReceiver(configuration: .init(freshness: configuration.freshness)) { keys.candidates(for: $0) }
        self.keys = keys
        policy = configuration.edgePolicy
        edgeSources = configuration.edgeSources
        plainSyslogFrom = configuration.plainSyslogFrom
        edgeHosts = configuration.edgeHosts
        self.store = store
        if let data = try store.state(Self.registryState), var saved = try? JSONDecoder().decode(EdgeRegistry.self, from: data) {
            saved.validate()
            registry.withLock { $0 = saved }
        }
        // Replay windows survive a restart: frames whose events are stored stay refused, and
        // only those (the pipeline commits the windows with the events they admitted).
        for (id, state) in try Self.committedWindows(store) {
            if let edge = EdgeID(rawValue: id) { receiver.sequences[edge] = state }
        }
        self.receiver = Mutex(receiver)
        self.counters = counters
        messageCounters = [
            .udp: counters.handle("relay_messages_total{transport=\"udp\"}"), .tcp: counters.handle("relay_messages_total{transport=\"tcp\"}"),
            .tls: counters.handle("relay_messages_total{transport=\"tls\"}"),
        ]
        plainCounter = counters.handle("relay_syslog_plain_total")
        syslogEventsCounter = counters.handle("relay_syslog_events_total")
        self.logger = logger
        queue = IntakeQueue(maxItems: configuration.limits.queueDepth, maxBytes: configuration.limits.queueBytes)
        senderLimiter = Mutex(SenderRateLimiter(perSecond: configuration.limits.plainPerSenderPerSecond))
    }

    /// The replay windows last committed with the events they admitted (`window:<edge>`
    /// state entries); before those existed, the registry's copy.
    static func committedWindows(_ store: Store) throws -> [String: EdgeSequenceState] {
        var windows: [String: EdgeSequenceState] = [:]
        for (name, data) in try store.states(prefix: Pipeline.windowPrefix) {
            if let w = try? JSONDecoder().decode(EdgeSequenceState.self, from: data) { windows[String(name.dropFirst(Pipeline.windowPrefix.count))] = w }
        }
        if windows.isEmpty, let data = try store.state(registryState) {
            struct Legacy: Decodable { var sequences: [String: EdgeSequenceState]? }
            windows = (try? JSONDecoder().decode(Legacy.self, from: data))?.sequences ?? [:]
        }
        return windows
    }

    /// Plain syslog per sender.
    private let senderLimiter: Mutex<SenderRateLimiter>
    /// Drops since the relay last raised them, by reason (and the senders rate-limited).
    private let drops = Mutex(DropTally())

    struct DropTally {
        var byReason: [String: Int] = [:]
        var limitedSenders: [String: Int] = [:]
        var isEmpty: Bool { byReason.isEmpty }
    }

    /// Relay events the queue had no room for: they are never dropped, the pipeline takes
    /// them on its next tick (at most `maxHeldRelayEvents`; past it the oldest go, counted).
    private let heldRelayEvents = Mutex<[Event]>([])
    static let maxHeldRelayEvents = 100_000

    /// Takes the relay events held back by a full queue.
    package func takeHeldRelayEvents() -> [Event] {
        heldRelayEvents.withLock { held in
            defer { held.removeAll() }
            return held
        }
    }

    /// No more items will come (listeners have stopped).
    package func finish() { queue.finish() }

    /// A plain syslog message as the intake took it (past the sender checks), with the
    /// events the rules found in it.
    package struct PlainMessage: Sendable {
        package var bytes: [UInt8]
        package var sender: String
        package var events: [Event]
    }

    /// Sees every plain syslog message taken, without changing how it is handled: the same
    /// path runs whether or not anyone looks. Register before messages arrive.
    package func observePlain(_ observer: @escaping @Sendable (PlainMessage) -> Void) {
        plainObservers.withLock { $0.append(observer) }
        observingPlain.store(true, ordering: .relaxed)
    }

    private let plainObservers = Mutex<[@Sendable (PlainMessage) -> Void]>([])
    private let observingPlain = Atomic<Bool>(false)

    private func showPlain(_ bytes: some Collection<UInt8>, sender: String, events: [Event]) {
        guard observingPlain.load(ordering: .relaxed) else { return }
        let message = PlainMessage(bytes: Array(bytes), sender: sender, events: events)
        for observer in plainObservers.withLock({ $0 }) { observer(message) }
    }

    /// The parser with this moment as the reference for BSD years (a parser made once at
    /// start put messages a day after it into the previous year).
    private var currentParser: SyslogParser {
        var p = parser
        p.yearInference.referenceMicroseconds = clock.now
        return p
    }

    private let messageCounters: [RelayConfiguration.Listener.Transport: Counters.Handle]
    private let plainCounter: Counters.Handle
    private let syslogEventsCounter: Counters.Handle
    private static let wirePrefix = Array(Envelope.messagePrefix.utf8)

    /// What became of a message, for the connection it came on.
    package enum Verdict: Sendable, Hashable {
        /// Taken, refused or counted: nothing for the connection to do.
        case taken
        /// An edge frame was accepted but the queue had no room: over TCP the connection is
        /// closed, so the edge reconnects and resends it.
        case frameDropped
    }

    /// One syslog message: a UDP datagram's payload or one TCP frame.
    @discardableResult
    package func handle(_ bytes: some Collection<UInt8>, sender: String, transport: RelayConfiguration.Listener.Transport) -> Verdict {
        messageCounters[transport]?.add()
        if let done = bytes.withContiguousStorageIfAvailable({ handlePlainQuickly($0, sender: sender) }), done {
            return .taken
        }
        return handleParsed(bytes, sender: sender)
    }

    /// The fast path for plain syslog: when the message cannot hold an edge frame, the
    /// rules run on its bytes in place; only a message they match is parsed in full.
    /// Returns false when the message needs the full path.
    private func handlePlainQuickly(_ buffer: UnsafeBufferPointer<UInt8>, sender: String) -> Bool {
        if ByteSearch.contains(buffer, Self.wirePrefix) { return false }
        plainCounter.add()
        guard takesPlainSyslog(from: sender), withinRate(sender) else { return true }
        guard let (event, _) = detector.detectOne(buffer: buffer, parser: currentParser, defaultHost: sender) else {
            showPlain(buffer, sender: sender, events: [])
            return true
        }
        syslogEventsCounter.add(1)
        showPlain(buffer, sender: sender, events: [event])
        emit(.detected([event], sender: sender))
        return true
    }

    private func handleParsed(_ bytes: some Collection<UInt8>, sender: String) -> Verdict {
        let message: SyslogMessage
        do {
            message = try currentParser.parse(bytes)
        } catch let error as WireError {
            reject(error, sender: sender)
            return .taken
        } catch {
            reject(.syntax("\(error)"), sender: sender)
            return .taken
        }
        let nowMilliseconds = clock.now / 1000
        let sources = edgeSources
        let result = receiver.withLock {
            $0.receive(message: message, nowMilliseconds: nowMilliseconds, now: .now) { edge in
                guard let allowed = sources[edge.rawValue] else { return true }
                return allowed.contains { $0.contains(sender) }
            }
        }
        switch result {
        case nil:
            plainCounter.add()
            guard takesPlainSyslog(from: sender), withinRate(sender) else { return .taken }
            let events = detector.detect(message, raw: String(decoding: bytes, as: UTF8.self), hostOverride: message.hostname ?? sender)
            showPlain(bytes, sender: sender, events: events)
            if !events.isEmpty {
                syslogEventsCounter.add(events.count)
                emit(.detected(events, sender: sender))
            }
        case .delivered(var delivery)?:
            counters.add("relay_frames_total{kind=\"\(delivery.frame.kind)\"}")
            if case .events(let events) = delivery.body {
                counters.add("relay_edge_events_total", events.count)
                let edge = delivery.frame.edgeID.rawValue
                let (tied, replaced) = registry.withLock { $0.tieHosts(events, edge: edge, allowed: edgeHosts[edge]) }
                if replaced > 0 {
                    counters.add("relay_edge_hosts_replaced_total", replaced)
                    logger.warning("an edge named hosts it does not speak for: replaced by its own",
                                   metadata: ["edge": "\(edge)", "events": "\(replaced)"])
                }
                delivery.body = .events(tied)
            }
            let key = keys.describe(delivery.keyIndex, edge: delivery.frame.edgeID)
            if key != nil { counters.add("relay_frames_previous_key_total") }
            let raised = registry.withLock { $0.delivered(delivery, key: key, nowMilliseconds: nowMilliseconds) }
            var verdict = Verdict.taken
            if !emit(.frame(delivery, sender: sender)) {
                // A heartbeat is not spooled by the edge (a resend will not come) and the
                // registry has already taken what it says: only counted.
                if case .heartbeat = delivery.body {
                    counters.add("relay_heartbeats_dropped_total")
                    for event in raised { raise(event) }
                    return .taken
                }
                // Not kept: take its acceptance back, so a resend of it is fresh, and ask for
                // one (over TCP the edge resends its recent frames after reconnecting). Not
                // resent in time (UDP, or past the edge's resend window), it is an edge.loss.
                let frame = delivery.frame
                receiver.withLock { $0.sequences[frame.edgeID]?.forget(epoch: frame.epoch, sequence: frame.sequence) }
                registry.withLock { $0.dropped(edge: frame.edgeID.rawValue, epoch: frame.epoch, sequence: frame.sequence, nowMilliseconds: nowMilliseconds) }
                counters.add("relay_frames_dropped_total")
                verdict = .frameDropped
            }
            for event in raised { raise(event) }
            return verdict
        case .pending?:
            counters.add("relay_fragments_pending_total")
        case .duplicate?:
            counters.add("relay_duplicates_total")
        case .rejected(let error)?:
            reject(error, sender: sender)
            if error.isForgery {
                // Attributed to the edge the message claims to come from (not verified: it is
                // what an operator needs to know which edge someone impersonates).
                let claimed = message.element(Envelope.sdID)?["id"] ?? message.hostname ?? ""
                let edge = EdgeID(rawValue: claimed)?.rawValue ?? "unknown"
                let known = registry.withLock { $0.records[edge] != nil }
                if let event = forgeries.withLock({ $0.record(claimedEdge: edge, known: known, reason: error.reason, sender: sender, nowMilliseconds: nowMilliseconds) }) {
                    raise(event)
                }
            }
        }
        return .taken
    }

    /// Periodic chores: drops incomplete frames past their timeout, raises losses and
    /// silences, saves the registry with the replay windows. Returns the events it raised
    /// (they are queued for the pipeline too): a test sees at once that none was.
    @discardableResult
    package func tick(nowMilliseconds: Int64? = nil) -> [Event] {
        let now = nowMilliseconds ?? clock.now / 1000
        let dropped = receiver.withLock { $0.expire(now: .now) }
        if !dropped.isEmpty { counters.add("relay_reassembly_expired_total", dropped.count) }
        // The replay windows stay the receiver's: only those of edges with a gap to judge
        // are looked up (the registry keeps no copy).
        let due = registry.withLock { $0.edgesWithGapsDue(nowMilliseconds: now, policy: policy) }
        let windows = due.isEmpty ? [:] : receiver.withLock { r in
            Dictionary(uniqueKeysWithValues: due.compactMap { id in EdgeID(rawValue: id).flatMap { e in r.sequences[e].map { (id, $0) } } })
        }
        let (raised, snapshot) = registry.withLock { registry -> ([Event], EdgeRegistry) in
            (registry.tick(nowMilliseconds: now, policy: policy, windows: windows), registry)
        }
        let forged = forgeries.withLock { $0.tick(nowMilliseconds: now) }
        for event in raised + forged { raise(event) }
        let drops = raiseDrops(nowMilliseconds: now)
        save(snapshot)
        return raised + forged + drops
    }

    /// Saves the registry now (also done by `tick`).
    /// (The replay windows are not part of it: the pipeline commits them with the events.)
    package func save() {
        save(registry.withLock { $0 })
    }

    private func save(_ snapshot: EdgeRegistry) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(snapshot)
            guard lastSaved.withLock({ $0 != data }) else { return }
            try store.setState(Self.registryState, data)
            lastSaved.withLock { $0 = data }
        } catch {
            logger.error("cannot save the edge registry", metadata: ["error": "\(error)"])
        }
    }

    /// The registry as it stands.
    package func edges() -> [String: EdgeRegistry.Record] { registry.withLock { $0.records } }

    private func raise(_ event: Event) {
        counters.add("relay_edge_alerts_total{kind=\"\(event.kind)\"}")
        guard !emit(.relay(event)) else { return }
        heldRelayEvents.withLock { held in
            held.append(event)
            if held.count > Self.maxHeldRelayEvents {
                held.removeFirst(held.count - Self.maxHeldRelayEvents)
                counters.add("relay_dropped_total{reason=\"relay_events_held\"}")
            }
        }
    }

    package func reassemblyStatistics() -> Reassembler.Statistics {
        receiver.withLock { $0.reassemblyStatistics }
    }

    /// Incomplete frames held, their bytes, and the reassembler's counts.
    package func reassemblyState() -> (frames: Int, bytes: Int, statistics: Reassembler.Statistics) {
        receiver.withLock { ($0.pendingFrames, $0.pendingBytes, $0.reassemblyStatistics) }
    }

    /// Queues `item`; false (counted, and raised on the next tick) when the queue is full,
    /// in items or in bytes.
    @discardableResult
    private func emit(_ item: IntakeItem) -> Bool {
        switch queue.push(item, bytes: item.estimatedBytes) {
        case nil: return true
        case .items?: dropped("queue_full")
        case .bytes?: dropped("queue_bytes")
        case .finished?: break
        }
        return false
    }

    private func dropped(_ reason: String, sender: String? = nil) {
        counters.add("relay_dropped_total{reason=\"\(reason)\"}")
        drops.withLock { d in
            d.byReason[reason, default: 0] += 1
            if let sender, d.limitedSenders[sender] != nil || d.limitedSenders.count < 16 { d.limitedSenders[sender, default: 0] += 1 }
        }
    }

    /// Whether `sender` is within its rate of plain syslog; a message over it is dropped.
    private func withinRate(_ sender: String) -> Bool {
        let now = ContinuousClock.now
        guard senderLimiter.withLock({ $0.take(sender, now: now) }) else {
            dropped("sender_rate", sender: sender)
            return false
        }
        return true
    }

    /// Input dropped since the last call, raised as one relay event (an incident "relay
    /// dropped input"): a genuine event may have been among what was dropped.
    @discardableResult
    func raiseDrops(nowMilliseconds now: Int64) -> [Event] {
        let tally = drops.withLock { d in
            defer { d = DropTally() }
            return d
        }
        guard !tally.isEmpty else { return [] }
        let reasons = tally.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let senders = tally.limitedSenders.sorted { $0.value > $1.value }.prefix(8).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var event = EdgeRegistry.event(.edgeLoss, "relay", now, severity: .high,
            "the relay dropped input: \(reasons)" + (senders.isEmpty ? "" : "; rate-limited senders: \(senders)"))
        event.program = "relay-intake"
        raise(event)
        return [event]
    }

    /// Whether plain syslog from `sender` is taken; a refusal is counted.
    private func takesPlainSyslog(from sender: String) -> Bool {
        guard let allowed = plainSyslogFrom else { return true }
        if allowed.contains(where: { $0.contains(sender) }) { return true }
        counters.add("relay_rejected_total{reason=\"plain_syslog_refused\"}")
        return false
    }

    private func reject(_ error: WireError, sender: String) {
        counters.add("relay_rejected_total{reason=\"\(error.reason)\"}")
        logger.debug("rejected message", metadata: ["sender": "\(sender)", "reason": "\(error.reason)", "detail": "\(error.detail)"])
    }
}

extension IntakeItem {
    /// What an item holds in memory, roughly: its lines and a fixed cost per event.
    var estimatedBytes: Int {
        func events(_ list: [Event]) -> Int { list.reduce(0) { $0 + 256 + ($1.raw?.utf8.count ?? 0) } }
        switch self {
        case .frame(let delivery, _):
            if case .events(let list) = delivery.body { return 256 + events(list) }
            return 1024
        case .detected(let list, _): return 64 + events(list)
        case .relay(let event): return 256 + (event.raw?.utf8.count ?? 0)
        }
    }
}

/// Plain syslog per sender: a token bucket each, refilled at `perSecond`, holding one
/// second's worth. At most `maxSenders` are remembered (spoofed UDP sources are free): past
/// it the buckets that have been full longest are forgotten, so a flood of addresses costs
/// memory only up to the bound and a forgotten sender starts again with a full bucket.
struct SenderRateLimiter {
    let perSecond: Double
    let maxSenders: Int
    private var buckets: [String: (tokens: Double, at: ContinuousClock.Instant)] = [:]

    init(perSecond: Int, maxSenders: Int = 10_000) {
        self.perSecond = Double(perSecond)
        self.maxSenders = maxSenders
    }

    mutating func take(_ sender: String, now: ContinuousClock.Instant) -> Bool {
        var bucket = buckets[sender] ?? (perSecond, now)
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(perSecond, bucket.tokens + seconds * perSecond)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[sender] = bucket
            return false
        }
        bucket.tokens -= 1
        if buckets[sender] == nil, buckets.count >= maxSenders {
            // Forget the tenth that has waited longest (their buckets are fullest).
            for (key, _) in buckets.sorted(by: { $0.value.at < $1.value.at }).prefix(max(1, maxSenders / 10)) { buckets[key] = nil }
        }
        buckets[sender] = bucket
        return true
    }
}
