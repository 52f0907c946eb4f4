/// One syslog message, from either RFC 5424 or RFC 3164 (BSD) text.
public struct SyslogMessage: Hashable, Sendable {
    public enum Format: String, Hashable, Sendable {
        /// RFC 5424.
        case rfc5424
        /// RFC 3164 and the variants rsyslog writes: optional PRI, BSD or RFC 3339 time.
        case rfc3164
    }

    public var format: Format
    /// 0-23; nil when the text had no PRI.
    public var facility: Int?
    /// 0-7; nil when the text had no PRI.
    public var severity: Int?
    public var timestamp: SyslogTimestamp?
    public var hostname: String?
    /// RFC 5424 APP-NAME, or the program of an RFC 3164 TAG.
    public var appName: String?
    /// RFC 5424 PROCID, or the pid in an RFC 3164 TAG's brackets.
    public var procID: String?
    public var msgID: String?
    public var structuredData: [StructuredDataElement]
    /// MSG, without a BOM. Invalid UTF-8 is replaced by U+FFFD.
    public var message: String
    /// MSG began with the UTF-8 BOM (RFC 5424 MSG-UTF8).
    public var hasBOM: Bool

    public init(
        format: Format, facility: Int? = nil, severity: Int? = nil, timestamp: SyslogTimestamp? = nil,
        hostname: String? = nil, appName: String? = nil, procID: String? = nil, msgID: String? = nil,
        structuredData: [StructuredDataElement] = [], message: String = "", hasBOM: Bool = false
    ) {
        self.format = format
        self.facility = facility
        self.severity = severity
        self.timestamp = timestamp
        self.hostname = hostname
        self.appName = appName
        self.procID = procID
        self.msgID = msgID
        self.structuredData = structuredData
        self.message = message
        self.hasBOM = hasBOM
    }

    /// The first structured-data element with this SD-ID.
    public func element(_ id: String) -> StructuredDataElement? {
        structuredData.first { $0.id == id }
    }
}

/// An RFC 5424 SD-ELEMENT: an id and its parameters, in order (names may repeat).
public struct StructuredDataElement: Hashable, Sendable {
    public var id: String
    public var parameters: [(name: String, value: String)]

    public init(id: String, parameters: [(name: String, value: String)] = []) {
        self.id = id
        self.parameters = parameters
    }

    public subscript(name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.id == b.id && a.parameters.elementsEqual(b.parameters) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        for p in parameters {
            hasher.combine(p.name)
            hasher.combine(p.value)
        }
    }
}
