import Plumbing
import Wire

/// Something an operator should hear about: one or more events that a correlation rule
/// grouped together. An open incident keeps counting its group's events; it is alerted
/// once when it opens (and its count and last time are kept up to date in the store).
package struct Incident: Sendable, Hashable {
    package enum Status: String, Sendable, Hashable {
        case open, closed
    }

    /// The store's id; assigned when the incident opens.
    package var id: Int64
    /// The correlation rule and the group's values: at most one open incident per key.
    package var key: String
    package var rule: String
    package var kind: String
    package var severity: Event.Severity
    package var title: String
    /// Events counted: attempts for a brute force, events for the others.
    package var count: Int
    package var host: String?
    package var edge: String?
    package var user: String?
    package var targetUser: String?
    package var group: String?
    package var sourceIP: String?
    /// Times of the first and latest event, microseconds since 1970 (event time when the
    /// event carries a plausible one, else the time it arrived).
    package var firstSeen: Int64
    package var lastSeen: Int64
    /// When the latest event arrived at the relay, microseconds (what `quiet` counts from).
    package var lastArrival: Int64
    package var status: Status
    /// Up to `evidenceLimit` original lines: the first ones, then the latest.
    package var evidence: [String]
    /// Hosts involved (a brute force from one source may hit several), at most 16.
    package var hosts: [String]
    /// Set by the delivery stage; false until a channel confirmed it.
    package var delivered: Bool = false
    /// Whether its events were authenticated (an edge's signed frames, or the relay's own
    /// observations) rather than plain syslog, which anyone on the network can send.
    /// Incidents never mix the two (`Correlator.key`).
    package var authenticated: Bool { edge != nil }

    package static let evidenceLimit = 10

    mutating func add(_ event: Event, time: Int64, arrival: Int64, edge: String?) {
        // Saturating: a repeat line's count is text anyone can write.
        let (sum, overflow) = count.addingReportingOverflow(event.occurrences)
        count = overflow ? .max : sum
        firstSeen = min(firstSeen, time)
        lastSeen = max(lastSeen, time)
        lastArrival = max(lastArrival, arrival)
        if let s = event.severity, s > severity, s >= .high { severity = s }
        if let h = event.host, !hosts.contains(h), hosts.count < 16 { hosts.append(h) }
        user = user ?? event.user
        targetUser = targetUser ?? event.targetUser
        group = group ?? event.group
        sourceIP = sourceIP ?? event.sourceIP
        self.edge = self.edge ?? edge
        if let raw = event.raw {
            // Keep the first half of the evidence as it came, then a window of the latest.
            if evidence.count < Self.evidenceLimit {
                evidence.append(raw)
            } else {
                evidence.remove(at: Self.evidenceLimit / 2)
                evidence.append(raw)
            }
        }
    }

    /// `title` with `{field}` and `{count}` filled in; absent fields read `?`.
    static func headline(_ template: String, event: Event, count: Int) -> String {
        FieldTemplate.fill(template) { name in
            if name == "count" { return String(count) }
            guard let field = EventField(rawValue: name) else { return nil }
            return field.value(in: event).map { String($0.prefix(128)) } ?? "?"
        }
    }
}

/// What happened to an incident, for the console, the journal, the store and delivery.
package enum IncidentChange: Sendable, Hashable {
    /// A new incident: alert it.
    case opened(Incident)
    /// More events for an open incident (count, last time, evidence).
    case updated(Incident)
    /// More events, one of them more severe than the incident was: channels whose
    /// `min_severity` it now reaches are alerted.
    case escalated(Incident, from: Event.Severity)
    /// Quiet for long enough: the next event of its group opens a new incident.
    case closed(Incident)

    package var incident: Incident {
        switch self {
        case .opened(let i), .updated(let i), .escalated(let i, _), .closed(let i): i
        }
    }
}
