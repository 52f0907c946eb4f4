import Foundation

/// One normalised account-activity record: the event vocabulary of PRODUCT.md.
///
/// Field names and `Kind` values are a contract shared by the edge, the relay, the JSON
/// outputs and the docs. Absent fields are `nil`, never placeholders.
public struct Event: Hashable, Sendable {
    /// What happened, from the fixed vocabulary (`login`, `account.created`, ...).
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let login = Kind(rawValue: "login")
        public static let logout = Kind(rawValue: "logout")
        public static let privilege = Kind(rawValue: "privilege")
        public static let accountCreated = Kind(rawValue: "account.created")
        public static let accountDeleted = Kind(rawValue: "account.deleted")
        public static let accountChanged = Kind(rawValue: "account.changed")
        public static let accountEnabled = Kind(rawValue: "account.enabled")
        public static let accountDisabled = Kind(rawValue: "account.disabled")
        public static let accountLocked = Kind(rawValue: "account.locked")
        public static let accountUnlocked = Kind(rawValue: "account.unlocked")
        public static let passwordChanged = Kind(rawValue: "password.changed")
        public static let groupCreated = Kind(rawValue: "group.created")
        public static let groupDeleted = Kind(rawValue: "group.deleted")
        public static let groupChanged = Kind(rawValue: "group.changed")
        public static let groupMemberAdded = Kind(rawValue: "group.member_added")
        public static let groupMemberRemoved = Kind(rawValue: "group.member_removed")
        public static let auditCleared = Kind(rawValue: "audit.cleared")
        public static let serviceInstalled = Kind(rawValue: "service.installed")
        public static let taskCreated = Kind(rawValue: "task.created")
        public static let edgeSilent = Kind(rawValue: "edge.silent")
        public static let edgeRestarted = Kind(rawValue: "edge.restarted")
        public static let edgeLoss = Kind(rawValue: "edge.loss")
        public static let edgeForgery = Kind(rawValue: "edge.forgery")

        /// Every kind of the vocabulary, in the order PRODUCT.md lists them.
        public static let vocabulary: [Kind] = [
            .login, .logout, .privilege, .accountCreated, .accountDeleted, .accountChanged,
            .accountEnabled, .accountDisabled, .accountLocked, .accountUnlocked, .passwordChanged,
            .groupCreated, .groupDeleted, .groupChanged, .groupMemberAdded, .groupMemberRemoved,
            .auditCleared, .serviceInstalled, .taskCreated,
            .edgeSilent, .edgeRestarted, .edgeLoss, .edgeForgery,
        ]
    }

    /// Event times a frame may carry, in microseconds since 1970: up to the year 2200.
    /// A decoder refuses others (they are no clock's reading, and they reach arithmetic).
    public static let timeRange: ClosedRange<Int64> = 0...7_258_118_400_000_000

    public enum Outcome: String, Hashable, Sendable, CaseIterable {
        case success, failure
    }

    public enum Severity: String, Hashable, Sendable, CaseIterable, Comparable {
        case info, low, medium, high, critical

        private var rank: Int {
            switch self {
            case .info: 0
            case .low: 1
            case .medium: 2
            case .high: 3
            case .critical: 4
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// The longest `raw` text carried, in UTF-8 bytes. Longer originals are cut at a
    /// character boundary at or below this bound.
    public static let maxRawBytes = 4096

    public var kind: Kind
    public var outcome: Outcome?
    /// When it happened, in microseconds since 1970-01-01T00:00:00Z.
    public var timeMicroseconds: Int64?
    public var host: String?
    public var program: String?
    public var pid: Int64?
    /// Who acts or logs in.
    public var user: String?
    /// The account acted on.
    public var targetUser: String?
    public var group: String?
    public var sourceIP: String?
    public var sourcePort: Int64?
    /// password, publickey, keyboard-interactive, ...
    public var method: String?
    /// Windows logon type.
    public var logonType: Int64?
    /// Id of the rule that matched.
    public var rule: String?
    public var severity: Severity?
    /// The original line or event XML, at most `maxRawBytes` UTF-8 bytes.
    public var raw: String?
    /// How many times it happened, when more than once: a "message repeated N times" line
    /// is one event with `count` N, not N events (nil means once).
    public var count: Int64?

    /// Most a count may say (a repeat line is plain text anyone can write).
    public static let maxCount: Int64 = 1_000_000

    /// `count`, or 1.
    public var occurrences: Int { Int(count ?? 1) }

    public init(
        kind: Kind, outcome: Outcome? = nil, timeMicroseconds: Int64? = nil, host: String? = nil,
        program: String? = nil, pid: Int64? = nil, user: String? = nil, targetUser: String? = nil,
        group: String? = nil, sourceIP: String? = nil, sourcePort: Int64? = nil, method: String? = nil,
        logonType: Int64? = nil, rule: String? = nil, severity: Severity? = nil, raw: String? = nil, count: Int64? = nil
    ) {
        self.count = count.map { min(max($0, 1), Event.maxCount) }.flatMap { $0 > 1 ? $0 : nil }
        self.kind = kind
        self.outcome = outcome
        self.timeMicroseconds = timeMicroseconds
        self.host = host
        self.program = program
        self.pid = pid
        self.user = user
        self.targetUser = targetUser
        self.group = group
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
        self.method = method
        self.logonType = logonType
        self.rule = rule
        self.severity = severity
        self.raw = raw.map { Event.truncatedRaw($0) }
    }

    /// `text` cut to at most `maxRawBytes` UTF-8 bytes, never inside a character.
    public static func truncatedRaw(_ text: String) -> String {
        guard text.utf8.count > maxRawBytes else { return text }
        let utf8 = Array(text.utf8.prefix(maxRawBytes + 1))
        var cut = maxRawBytes
        // utf8[cut] is the first byte left out: while it continues a character, back up.
        while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
        return String(decoding: utf8[..<cut], as: UTF8.self)
    }

    /// `time` as ISO 8601 UTC with microseconds, e.g. `2026-11-29T16:10:15.123456Z`.
    public var time: String? {
        timeMicroseconds.map { SyslogTimestamp.iso8601UTC(microseconds: $0, fractionDigits: 6) }
    }
}
