import Wire

/// Which events a correlation rule looks at. Every condition given must hold; a list
/// means any of its values.
package struct EventMatch: Sendable, Hashable {
    package var kinds: Set<String> = []
    package var outcome: Event.Outcome?
    /// Fields that must be present (for example `method`: only the one line of a failed
    /// attempt that carries it, so attempts are counted, not lines).
    package var has: Set<EventField> = []
    /// Field values, compared without regard to case (group names differ in case between
    /// systems: `Administrators`, `administrators`).
    package var values: [EventField: Set<String>] = [:]
    /// At least this severity (as the detection rule set it).
    package var minimumSeverity: Event.Severity?
    /// Field values that exclude an event (compared like `values`).
    package var excluded: [EventField: Set<String>] = [:]

    package init(
        kinds: Set<String> = [], outcome: Event.Outcome? = nil, has: Set<EventField> = [], values: [EventField: Set<String>] = [:],
        minimumSeverity: Event.Severity? = nil, excluded: [EventField: Set<String>] = [:]
    ) {
        self.kinds = kinds
        self.outcome = outcome
        self.has = has
        self.values = values.mapValues { Set($0.map { $0.lowercased() }) }
        self.minimumSeverity = minimumSeverity
        self.excluded = excluded.mapValues { Set($0.map { $0.lowercased() }) }
    }

    package func matches(_ e: Event) -> Bool {
        if !kinds.isEmpty, !kinds.contains(e.kind.rawValue) { return false }
        if let outcome, e.outcome != outcome { return false }
        for field in has where field.value(in: e) == nil { return false }
        for (field, wanted) in values {
            guard let v = field.value(in: e), wanted.contains(v.lowercased()) else { return false }
        }
        if let minimumSeverity, (e.severity ?? .info) < minimumSeverity { return false }
        for (field, unwanted) in excluded {
            if let v = field.value(in: e), unwanted.contains(v.lowercased()) { return false }
        }
        return true
    }
}

/// The vocabulary's fields, by their JSON names, as correlation rules name them.
package enum EventField: String, Sendable, Hashable, CaseIterable, Comparable {
    case host, program, user, targetUser = "target_user", group, sourceIP = "source_ip", sourcePort = "source_port"
    case method, logonType = "logon_type", rule, outcome, kind, severity

    package func value(in e: Event) -> String? {
        switch self {
        case .host: e.host
        case .program: e.program
        case .user: e.user
        case .targetUser: e.targetUser
        case .group: e.group
        case .sourceIP: e.sourceIP
        case .sourcePort: e.sourcePort.map(String.init)
        case .method: e.method
        case .logonType: e.logonType.map(String.init)
        case .rule: e.rule
        case .outcome: e.outcome?.rawValue
        case .kind: e.kind.rawValue
        case .severity: e.severity?.rawValue
        }
    }

    package static func < (a: EventField, b: EventField) -> Bool { a.rawValue < b.rawValue }
}

/// One correlation rule: how events become an incident.
///
/// - `single`: every matching event is an incident.
/// - `threshold`: `threshold` matching events of one group within `window` are one incident.
/// - `sequence`: `first` (at least `firstCount` times) then `then`, in one group within
///   `window`, is one incident.
///
/// In every case an open incident keeps counting the events of its group rather than
/// repeating: it closes only after `quiet` without one, and only then may the group open
/// a new incident.
package struct CorrelationRule: Sendable, Hashable {
    package enum Shape: Sendable, Hashable, Equatable {
        case single
        case threshold(count: Int)
        case sequence(first: EventMatch, firstCount: Int)
    }

    package var id: String
    /// The incident's kind as `relay alerts` shows it (for example `brute_force`).
    package var incident: String
    package var shape: Shape
    /// The events counted (for a sequence: the `then` event; later ones add to its count).
    package var match: EventMatch
    /// Fields that split incidents: one incident per distinct combination.
    package var groupBy: [EventField]
    package var windowSeconds: Int
    package var quietSeconds: Int
    /// The incident's severity; a single event of a higher one raises it.
    package var severity: Event.Severity
    /// A headline, with `{field}` placeholders filled from the first event (and `{count}`).
    package var title: String
    package var enabled = true
    /// Rules whose open incident for the same group this rule's event ends (the all-clear
    /// of `edge-silent-ended` closes `edge-silent`, so the next silence alerts again).
    package var resolves: [String] = []

    package init(
        id: String, incident: String, shape: Shape, match: EventMatch, groupBy: [EventField], windowSeconds: Int = 120,
        quietSeconds: Int? = nil, severity: Event.Severity, title: String
    ) {
        self.id = id
        self.incident = incident
        self.shape = shape
        self.match = match
        self.groupBy = groupBy
        self.windowSeconds = windowSeconds
        self.quietSeconds = quietSeconds ?? windowSeconds
        self.severity = severity
        self.title = title
    }
}

extension CorrelationRule {
    /// Groups that mean administrator rights on Linux and Windows.
    package static let adminGroups: Set<String> = [
        "sudo", "wheel", "admin", "root", "adm", "administrators", "domain admins", "enterprise admins", "schema admins",
    ]

    /// Failed login attempts: only the line of an attempt that names its method counts, so
    /// sshd's three lines for one failed password count once (docs/detection.md).
    /// A client offering several keys writes a `Failed publickey` line for each: not a guess.
    /// Those count only when the configuration gives brute-force a match of its own
    /// (docs/configuration.md).
    static let attempt = EventMatch(kinds: ["login"], outcome: .failure, has: [.method, .sourceIP], excluded: [.method: ["publickey"]])

    /// The built-in set, in the order rules are tried: an event goes to the first rule that
    /// opens or counts an incident with it (a failure that only feeds a threshold or the
    /// first half of a sequence does not stop it from reaching later rules).
    package static let builtin: [CorrelationRule] = [
        CorrelationRule(
            id: "account-created-then-admin", incident: "account.created_then_admin",
            shape: .sequence(first: EventMatch(kinds: ["account.created"], has: [.targetUser]), firstCount: 1),
            match: EventMatch(kinds: ["group.member_added"], has: [.targetUser], values: [.group: adminGroups]),
            groupBy: [.host, .targetUser], windowSeconds: 600, quietSeconds: 600, severity: .critical,
            title: "account {target_user} created on {host} and made administrator ({group})"),
        CorrelationRule(
            id: "login-after-failures", incident: "login.after_failures",
            shape: .sequence(first: attempt, firstCount: 3),
            match: EventMatch(kinds: ["login"], outcome: .success, has: [.sourceIP]),
            groupBy: [.sourceIP], windowSeconds: 600, quietSeconds: 600, severity: .high,
            title: "{user} logged in to {host} from {source_ip} after failed attempts"),
        CorrelationRule(
            id: "brute-force", incident: "brute_force", shape: .threshold(count: 5), match: attempt,
            groupBy: [.sourceIP], windowSeconds: 120, severity: .high,
            title: "brute force from {source_ip} against {host}"),
        single("audit-cleared", kind: "audit.cleared", groupBy: [.host], severity: .critical, "audit log cleared on {host} by {user}"),
        single("admin-group-added", kind: "group.member_added", values: [.group: adminGroups], groupBy: [.host, .targetUser, .group],
               severity: .high, "{target_user} added to {group} on {host}"),
        single("account-created", kind: "account.created", groupBy: [.host, .targetUser], severity: .medium, "account {target_user} created on {host}"),
        single("account-deleted", kind: "account.deleted", groupBy: [.host, .targetUser], severity: .medium, "account {target_user} deleted on {host}"),
        single("account-unlocked", kind: "account.unlocked", groupBy: [.host, .targetUser], severity: .medium, "account {target_user} unlocked on {host}"),
        single("account-enabled", kind: "account.enabled", groupBy: [.host, .targetUser], severity: .medium, "account {target_user} enabled on {host}"),
        single("account-changed", kind: "account.changed", groupBy: [.host, .targetUser], severity: .low, "account {target_user} changed on {host}"),
        single("account-disabled", kind: "account.disabled", groupBy: [.host, .targetUser], severity: .low, "account {target_user} disabled on {host}"),
        single("account-locked", kind: "account.locked", groupBy: [.host, .targetUser], severity: .low, "account {target_user} locked on {host}"),
        single("password-changed", kind: "password.changed", groupBy: [.host, .targetUser], severity: .low, "password of {target_user} changed on {host}"),
        single("group-member-added", kind: "group.member_added", groupBy: [.host, .group], severity: .low, "{target_user} added to group {group} on {host}"),
        single("group-member-removed", kind: "group.member_removed", groupBy: [.host, .group], severity: .low, "{target_user} removed from group {group} on {host}"),
        single("group-changed", kind: "group.created", "group.deleted", "group.changed", groupBy: [.host, .group], severity: .low, "group {group} changed on {host}"),
        single("service-installed", kind: "service.installed", groupBy: [.host], severity: .high, "service installed on {host}"),
        single("task-created", kind: "task.created", groupBy: [.host], severity: .medium, "scheduled task created on {host}"),
        single("privilege-failure", kind: "privilege", outcome: .failure, groupBy: [.host, .user], quiet: 600, severity: .medium,
               "{user} failed to gain privileges on {host}"),
        single("login-success", kind: "login", outcome: .success, groupBy: [.host, .user, .sourceIP], quiet: 3600, severity: .low,
               "{user} logged in to {host}"),
        single("privilege-success", kind: "privilege", outcome: .success, groupBy: [.host, .user, .targetUser], quiet: 3600, severity: .info,
               "{user} became {target_user} on {host}"),
        // edge.silent with outcome success is the all-clear: an edge heard again.
        single("edge-silent-ended", kind: "edge.silent", outcome: .success, groupBy: [.host], severity: .info, "edge {host} is heard again",
               resolves: ["edge-silent"]),
        single("edge-silent", kind: "edge.silent", groupBy: [.host], quiet: 3600, severity: .high, "edge {host} has gone silent"),
        // The relay's own drops (queue full, senders over their rate): a genuine event may
        // have been among them.
        CorrelationRule(
            id: "relay-dropped", incident: "relay.dropped", shape: .single,
            match: EventMatch(kinds: ["edge.loss"], values: [.program: ["relay-intake"]]), groupBy: [.host],
            windowSeconds: 600, quietSeconds: 600, severity: .high, title: "the relay dropped input"),
        single("edge-loss", kind: "edge.loss", groupBy: [.host], quiet: 600, severity: .high, "edge {host} lost frames"),
        single("edge-restarted", kind: "edge.restarted", groupBy: [.host], quiet: 600, severity: .medium, "edge {host} restarted"),
        single("edge-forgery", kind: "edge.forgery", groupBy: [.host], quiet: 600, severity: .high, "forged or replayed frames for edge {host}"),
    ]

    static func single(
        _ id: String, kind: String..., outcome: Event.Outcome? = nil, values: [EventField: Set<String>] = [:], groupBy: [EventField],
        quiet: Int = 600, severity: Event.Severity, _ title: String, resolves: [String] = []
    ) -> CorrelationRule {
        var rule = CorrelationRule(
            id: id, incident: kind.count == 1 ? kind[0] : id, shape: .single,
            match: EventMatch(kinds: Set(kind), outcome: outcome, values: values), groupBy: groupBy,
            windowSeconds: quiet, quietSeconds: quiet, severity: severity, title: title)
        rule.resolves = resolves
        return rule
    }
}
