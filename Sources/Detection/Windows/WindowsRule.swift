import Wire
import WindowsEvents

/// A detection rule for Windows events: which events (id, and optionally channel and
/// provider), conditions on named EventData/UserData values, and the event it makes, with
/// its fields taken from named values.
///
/// In the same YAML files as the syslog rules (docs/rules.md), told apart by `event_id`:
///
///     - id: windows.logon.failed
///       event_id: 4625
///       channel: Security
///       where: {LogonType: [2, 3, 10]}          # a value must equal one of these
///       unless: {TargetUserName: ["*$"]}        # ... and must equal none of these
///       kind: login
///       outcome: failure
///       map: {user: [TargetUserName], source_ip: [IpAddress]}
///
/// Values compare without regard to case (Windows names do not), and `*` at the start or
/// end of a value matches any text there (`*$`: machine accounts).
package struct WindowsRule: Sendable {
    package var id: String
    package var eventIDs: [UInt32]
    /// Empty: any channel.
    package var channel: String
    /// Empty: any provider.
    package var provider: String
    package var conditions: [Condition]
    package var kind: Event.Kind
    package var outcome: Event.Outcome?
    package var severity: Event.Severity
    /// Fields set to fixed values: used when no named value gives one.
    package var set: [String: String]
    /// Fields taken from the first of several named values that is present and not `-`.
    package var map: [String: [String]]

    /// Fields a Windows rule may fill.
    package static let settableFields: Set<String> = [
        "user", "target_user", "group", "source_ip", "source_port", "method", "logon_type",
    ]

    package struct Condition: Sendable {
        /// The value's name (EventData `Name`, or a UserData element).
        package var field: String
        package var values: [ValuePattern]
        /// `unless`: the rule does not apply when the value matches.
        package var negated: Bool
    }

    /// A value to compare with: exact, or with `*` at its start, its end or both.
    package struct ValuePattern: Sendable {
        enum Shape: Sendable { case exact, prefix, suffix, contains, any }
        let shape: Shape
        /// Lowercased, without the stars.
        let text: String

        package init(_ pattern: String) {
            let lower = pattern.lowercased()
            let leading = lower.hasPrefix("*")
            let trailing = lower.count > 1 && lower.hasSuffix("*")
            var core = Substring(lower)
            if leading { core = core.dropFirst() }
            if trailing { core = core.dropLast() }
            text = String(core)
            switch (leading, trailing) {
            case (true, true): shape = core.isEmpty ? .any : .contains
            case (true, false): shape = core.isEmpty ? .any : .suffix
            case (false, true): shape = .prefix
            case (false, false): shape = .exact
            }
        }

        func matches(_ value: String) -> Bool {
            let v = value.lowercased()
            switch shape {
            case .exact: return v == text
            case .prefix: return v.hasPrefix(text)
            case .suffix: return v.hasSuffix(text)
            case .contains: return v.contains(text)
            case .any: return true
            }
        }
    }

    func applies(to event: WindowsEvent) -> Bool {
        if !channel.isEmpty, event.channel.lowercased() != channel.lowercased() { return false }
        if !provider.isEmpty, event.provider.lowercased() != provider.lowercased() { return false }
        for condition in conditions {
            let value = event[condition.field] ?? ""
            let matched = condition.values.contains { $0.matches(value) }
            if matched == condition.negated { return false }
        }
        return true
    }
}
