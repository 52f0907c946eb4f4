import Foundation
import Wire

/// Turns events into incidents with correlation rules. A value type driven by one consumer:
/// it is told of each event with the time it arrived, and of the time passing, and says
/// which incidents opened, grew or closed.
///
/// Times: windows are measured on event time when the event carries a plausible one
/// (within a day of its arrival), so a brute force replayed from an edge's spool after an
/// outage is judged as it happened; `quiet` is measured on arrival time, so a host whose
/// clock is wrong cannot close and reopen incidents on every tick.
///
/// Memory: the half-built groups (threshold counts, sequence beginnings) are bounded by
/// `maxPendingGroups`; past it the stalest are dropped and counted.
package struct Correlator: Sendable {
    package struct Statistics: Sendable, Hashable {
        package var allowed = 0
        package var pendingDropped = 0
        /// Open incidents closed early to stay within `maxOpen`.
        package var evicted = 0
    }

    package let rules: [CorrelationRule]
    /// For each event kind, the indices of the rules that may look at it (as `match` or as
    /// a sequence's `first`), in order; rules that name no kind are in every list.
    private let rulesByKind: [String: [Int]]
    private let rulesForAnyKind: [Int]
    /// Rule indices by id (for `resolves`).
    private let ruleIndex: [String: Int]
    package let allowlist: [Allowance]
    let calendar: Calendar
    package private(set) var open: [String: Incident] = [:]
    package private(set) var statistics = Statistics()
    private var nextID: Int64
    /// Threshold rules: recent matching events per group (time, raw line), newest last.
    private var pending: [String: Pending] = [:]
    /// Sequence rules: recent `first` events per group.
    private var beginnings: [String: Pending] = [:]
    package var maxPendingGroups = 100_000
    /// Most incidents open at once. Past it the least severe (then the stalest) tenth is
    /// closed early, counted in `statistics.evicted`: anyone can send plain syslog that
    /// opens incidents with ever new keys.
    package var maxOpen = 100_000

    struct Pending: Sendable {
        var times: [Int64] = []
        var evidence: [String] = []
        /// How many times each event happened (a repeat line's count), and their sum.
        var weights: [Int] = []
        var total = 0
        var lastArrival: Int64 = 0

        /// Inserts in time order (spooled events may arrive late), keeps only the window,
        /// and no more events than it takes to reach `keep` occurrences.
        mutating func remember(_ event: Event, time: Int64, arrival: Int64, keep: Int, window: Int) {
            let limit = Int64(window) * 1_000_000
            var index = times.count
            if let last = times.last, last > time { index = times.lastIndex(where: { $0 <= time }).map { $0 + 1 } ?? 0 }
            times.insert(time, at: index)
            evidence.insert(event.raw ?? "", at: index)
            weights.insert(event.occurrences, at: index)
            total += event.occurrences
            let newest = times.last ?? time
            var drop = 0
            var kept = total
            while drop < times.count, newest - times[drop] > limit || kept - weights[drop] >= keep {
                kept -= weights[drop]
                drop += 1
            }
            if drop > 0 {
                times.removeFirst(drop)
                evidence.removeFirst(drop)
                weights.removeFirst(drop)
                total = kept
            }
            lastArrival = max(lastArrival, arrival)
        }
    }

    /// `open` are incidents still open in the store (a restart keeps counting them);
    /// `nextID` the first id to give.
    package init(rules: [CorrelationRule] = CorrelationRule.builtin, allowlist: [Allowance] = [], timeZone: TimeZone = .current,
                open: [Incident] = [], nextID: Int64 = 1) {
        let rules = rules.filter(\.enabled)
        self.rules = rules
        func kinds(_ rule: CorrelationRule) -> Set<String>? {
            var kinds = rule.match.kinds
            if case .sequence(let first, _) = rule.shape {
                if first.kinds.isEmpty { return nil }
                kinds.formUnion(first.kinds)
            }
            return rule.match.kinds.isEmpty ? nil : kinds
        }
        var byKind: [String: [Int]] = [:]
        var any: [Int] = []
        let allKinds = Set(rules.compactMap(kinds).flatMap { $0 })
        for (i, rule) in rules.enumerated() {
            if let ks = kinds(rule) {
                for k in ks { byKind[k, default: []].append(i) }
            } else {
                any.append(i)
                for k in allKinds { byKind[k, default: []].append(i) }
            }
        }
        rulesByKind = byKind.mapValues { $0.sorted() }
        rulesForAnyKind = any
        ruleIndex = Dictionary(rules.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.allowlist = allowlist
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
        for incident in open where incident.status == .open { self.open[incident.key] = incident }
        self.nextID = max(nextID, (open.map(\.id).max() ?? 0) + 1)
    }

    /// One event, arrived at `arrival` (microseconds since 1970); `edge` names the edge
    /// it came from, if any.
    package mutating func process(_ event: Event, edge: String? = nil, arrival: Int64) -> [IncidentChange] {
        let time = Self.plausibleTime(event, arrival: arrival)
        var changes: [IncidentChange] = []
        var claimed = false
        var allowedOnce = false
        for index in rulesByKind[event.kind.rawValue] ?? rulesForAnyKind {
            let rule = rules[index]
            if case .sequence(let first, let needed) = rule.shape, first.matches(event) {
                statistics.pendingDropped += Self.remember(event, key: key(rule, event, edge: edge), time: time, arrival: arrival, keep: needed, window: rule.windowSeconds, in: &beginnings, maxGroups: maxPendingGroups)
            }
            guard !claimed, rule.match.matches(event) else { continue }
            if allowlist.contains(where: { $0.matches(event, rule: rule.id, time: time, calendar: calendar) }) {
                allowedOnce = true
                continue
            }
            let key = key(rule, event, edge: edge)
            for resolved in rule.resolves {
                guard let other = ruleIndex[resolved].map({ rules[$0] }), var ended = open.removeValue(forKey: self.key(other, event, edge: edge)) else { continue }
                ended.status = .closed
                changes.append(.closed(ended))
            }
            if let index = open.index(forKey: key) {
                // Changed in place: a copy taken out and put back copied its evidence too.
                var before = Event.Severity.info
                let incident = Self.adding(event, to: &open.values[index], time: time, arrival: arrival, edge: edge, before: &before)
                // A more severe event raises the incident: channels that wait for that
                // severity hear of it now (a sudo failure, then "user NOT in sudoers").
                changes.append(incident.severity > before ? .escalated(incident, from: before) : .updated(incident))
                claimed = true
                continue
            }
            switch rule.shape {
            case .single:
                changes += makeRoom()
                changes.append(.opened(openIncident(rule, key: key, event: event, time: time, arrival: arrival, edge: edge, before: nil)))
                claimed = true
            case .threshold(let count):
                statistics.pendingDropped += Self.remember(event, key: key, time: time, arrival: arrival, keep: count, window: rule.windowSeconds, in: &pending, maxGroups: maxPendingGroups)
                if let p = pending[key], p.total >= count {
                    pending[key] = nil
                    changes += makeRoom()
                    changes.append(.opened(openIncident(rule, key: key, event: event, time: time, arrival: arrival, edge: edge, before: p)))
                    claimed = true
                }
            case .sequence(_, let needed):
                let window = Int64(rule.windowSeconds) * 1_000_000
                if let b = beginnings[key] {
                    let recent = zip(b.times, b.weights).filter { $0.0 <= time && time - $0.0 <= window }.reduce(0) { $0 + $1.1 }
                    if recent >= needed {
                        beginnings[key] = nil
                        changes += makeRoom()
                        changes.append(.opened(openIncident(rule, key: key, event: event, time: time, arrival: arrival, edge: edge, before: b)))
                        claimed = true
                    }
                }
            }
        }
        if allowedOnce && !claimed { statistics.allowed += 1 }
        return changes
    }

    /// Time passed: closes incidents quiet for long enough, forgets stale half-built groups.
    package mutating func tick(now: Int64) -> [IncidentChange] {
        var changes: [IncidentChange] = []
        let quietByRule = Dictionary(rules.map { ($0.id, Int64($0.quietSeconds) * 1_000_000) }, uniquingKeysWith: { a, _ in a })
        for (key, incident) in open where now - incident.lastArrival >= quietByRule[incident.rule, default: 600_000_000] {
            var closed = incident
            closed.status = .closed
            open[key] = nil
            changes.append(.closed(closed))
        }
        let longest = Int64(rules.map(\.windowSeconds).max() ?? 600) * 1_000_000
        pending = pending.filter { now - $0.value.lastArrival < longest }
        beginnings = beginnings.filter { now - $0.value.lastArrival < longest }
        return changes.sorted { $0.incident.id < $1.incident.id }
    }

    /// Closes the least severe, stalest tenth of the open incidents when there is no room
    /// for one more (sorted once per tenth: amortised, not a scan per new incident).
    private mutating func makeRoom() -> [IncidentChange] {
        guard open.count >= maxOpen else { return [] }
        let victims = open.values.sorted { ($0.severity, $0.lastArrival) < ($1.severity, $1.lastArrival) }.prefix(max(1, maxOpen / 10))
        var changes: [IncidentChange] = []
        for var incident in victims {
            open[incident.key] = nil
            incident.status = .closed
            changes.append(.closed(incident))
        }
        statistics.evicted += changes.count
        return changes
    }

    private mutating func openIncident(
        _ rule: CorrelationRule, key: String, event: Event, time: Int64, arrival: Int64, edge: String?, before: Pending?
    ) -> Incident {
        var incident = Incident(
            id: nextID, key: key, rule: rule.id, kind: rule.incident, severity: max(rule.severity, event.severity ?? .info),
            title: Incident.headline(rule.title, event: event, count: 1), count: 0, host: event.host, edge: edge,
            user: event.user, targetUser: event.targetUser, group: event.group, sourceIP: event.sourceIP,
            firstSeen: time, lastSeen: time, lastArrival: arrival, status: .open, evidence: [], hosts: [])
        nextID += 1
        if let before {
            // A threshold's earlier events are part of the count; a sequence's beginnings
            // are evidence only (the incident counts its `then` events).
            if case .threshold = rule.shape {
                incident.count = max(0, before.total - event.occurrences)
                incident.firstSeen = min(time, before.times.min() ?? time)
                incident.evidence = Array(before.evidence.dropLast().filter { !$0.isEmpty }.prefix(Incident.evidenceLimit - 1))
            } else {
                incident.evidence = Array(before.evidence.filter { !$0.isEmpty }.suffix(Incident.evidenceLimit / 2))
            }
        }
        incident.add(event, time: time, arrival: arrival, edge: edge)
        incident.title = Incident.headline(rule.title, event: event, count: incident.count)
        open[key] = incident
        return incident
    }

    /// Adds `event` to `incident` in place; returns the incident as it now is and its
    /// severity before (read through the same access, not a copy of the whole incident).
    private static func adding(
        _ event: Event, to incident: inout Incident, time: Int64, arrival: Int64, edge: String?, before: inout Event.Severity
    ) -> Incident {
        before = incident.severity
        incident.add(event, time: time, arrival: arrival, edge: edge)
        return incident
    }

    /// Returns how many stale groups were dropped to make room.
    private static func remember(
        _ event: Event, key: String, time: Int64, arrival: Int64, keep: Int, window: Int, in table: inout [String: Pending], maxGroups: Int
    ) -> Int {
        var dropped = 0
        if table[key] == nil, table.count >= maxGroups {
            // Drop the stalest tenth: a flood of distinct groups cannot grow this without bound.
            let stale = table.sorted { $0.value.lastArrival < $1.value.lastArrival }.prefix(max(1, maxGroups / 10))
            for (k, _) in stale { table[k] = nil }
            dropped = stale.count
        }
        // Changed in place (a copy put back would copy its arrays on every event).
        table[key, default: Pending()].remember(event, time: time, arrival: arrival, keep: keep, window: window)
        return dropped
    }

    /// The incident key: the rule, where the events come from, and the group's values.
    ///
    /// Authenticated events (from an edge, or the relay's own) and plain syslog never share
    /// an incident: anyone on the network can send plain syslog, and an incident it opened
    /// first must not swallow the real attack's events (they would only raise a count, and
    /// an alert goes out when an incident opens). Values are escaped so that no value can
    /// end one field and start the next.
    func key(_ rule: CorrelationRule, _ event: Event, edge: String?) -> String {
        var key = rule.id
        key.reserveCapacity(rule.id.utf8.count + 8 + rule.groupBy.count * 24)
        key += edge == nil ? "|syslog" : "|signed"
        for field in rule.groupBy {
            key += "|"
            guard var value = field.value(in: event) else { continue }
            if value.utf8.contains(where: { $0 == UInt8(ascii: "|") || $0 == UInt8(ascii: "\\") }) {
                var escaped = ""
                for c in value.unicodeScalars {
                    if c == "|" || c == "\\" { escaped.unicodeScalars.append("\\") }
                    escaped.unicodeScalars.append(c)
                }
                value = escaped
            }
            key += value
        }
        return key
    }

    static func plausibleTime(_ event: Event, arrival: Int64) -> Int64 {
        // Widened: an authenticated edge may still send any 64-bit time.
        guard let t = event.timeMicroseconds, abs(Int128(t) - Int128(arrival)) <= 86_400_000_000 else { return arrival }
        return t
    }
}
