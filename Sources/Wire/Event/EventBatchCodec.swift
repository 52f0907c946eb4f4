/// The body of an `events` frame before compression: a count, then each event as a
/// length-delimited record of protobuf-style fields (`key = field << 3 | wire type`,
/// wire type 0 = varint, 2 = length-delimited bytes). Unknown fields are skipped, so later
/// versions can add fields without breaking v1 decoders. See docs/wire-protocol.md.
enum EventField: UInt64 {
    case kind = 1, outcome, time, host, program, pid, user, targetUser, group
    case sourceIP, sourcePort, method, logonType, rule, severity, raw
    /// Added after v1 (a v1 decoder skips it and reads the event once).
    case count
}

/// Limits on a decoded batch, applied while decoding.
public struct PayloadLimits: Sendable, Hashable {
    /// Most events one frame may carry.
    public var maxEvents: Int
    /// Longest single string field, in bytes.
    public var maxFieldBytes: Int

    public init(maxEvents: Int = 4096, maxFieldBytes: Int = 65_536) {
        self.maxEvents = maxEvents
        self.maxFieldBytes = maxFieldBytes
    }

    public static let `default` = PayloadLimits()
}

enum EventBatchCodec {
    static func encode(_ events: [Event]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 160)
        out.appendVarint(UInt64(events.count))
        var record: [UInt8] = []
        record.reserveCapacity(512)
        for event in events {
            record.removeAll(keepingCapacity: true)
            encode(event, into: &record)
            out.appendVarint(UInt64(record.count))
            out.append(contentsOf: record)
        }
        return out
    }

    private static func encode(_ e: Event, into out: inout [UInt8]) {
        func string(_ field: EventField, _ value: String?) {
            guard let value else { return }
            out.appendString(field: field.rawValue, value)
        }
        func int(_ field: EventField, _ value: Int64?) {
            guard let value else { return }
            out.appendVarint(field.rawValue << 3)
            out.appendVarint(ZigZag.encode(value))
        }
        string(.kind, e.kind.rawValue)
        string(.outcome, e.outcome?.rawValue)
        int(.time, e.timeMicroseconds)
        string(.host, e.host)
        string(.program, e.program)
        int(.pid, e.pid)
        string(.user, e.user)
        string(.targetUser, e.targetUser)
        string(.group, e.group)
        string(.sourceIP, e.sourceIP)
        int(.sourcePort, e.sourcePort)
        string(.method, e.method)
        int(.logonType, e.logonType)
        string(.rule, e.rule)
        string(.severity, e.severity?.rawValue)
        string(.raw, e.raw)
        int(.count, e.count)
    }

    static func decode(_ bytes: ArraySlice<UInt8>, limits: PayloadLimits) throws -> [Event] {
        var reader = ByteReader(bytes)
        let count = try reader.readVarint("event count")
        guard count <= UInt64(limits.maxEvents) else {
            throw WireError.oversized("\(count) events exceeds the limit of \(limits.maxEvents)")
        }
        // Each record needs at least two bytes, so a count the bytes cannot hold is refused
        // before anything is reserved.
        guard count <= UInt64(reader.remaining / 2) else {
            throw WireError.malformedPayload("event count \(count) larger than the payload can hold")
        }
        var events: [Event] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<count {
            let length = try reader.readVarint("event length")
            guard length <= UInt64(reader.remaining) else { throw WireError.truncated("event record") }
            let record = try reader.readBytes(Int(length), "event record")
            events.append(try decodeEvent(record, limits: limits))
        }
        guard reader.isAtEnd else { throw WireError.malformedPayload("\(reader.remaining) bytes after the last event") }
        return events
    }

    private static func decodeEvent(_ bytes: ArraySlice<UInt8>, limits: PayloadLimits) throws -> Event {
        var event = Event(kind: Event.Kind(rawValue: ""))
        try forEachField(bytes, limits: limits) { number, value in
            guard let field = EventField(rawValue: number) else { return }  // newer version's field
            switch value {
            case .varint(let raw):
                let value = ZigZag.decode(raw)
                switch field {
                case .time:
                    // Times from outside go into arithmetic: nothing before 1970 or after 2200.
                    guard Event.timeRange.contains(value) else { throw WireError.malformedPayload("event time \(value) out of range") }
                    event.timeMicroseconds = value
                case .pid: event.pid = value
                case .sourcePort: event.sourcePort = value
                case .logonType: event.logonType = value
                case .count:
                    guard (2...Event.maxCount).contains(value) else { throw WireError.malformedPayload("count \(value) out of range") }
                    event.count = value
                default: throw WireError.malformedPayload("field \(number) must be bytes")
                }
            case .bytes(let data):
                guard let text = String(validating: data, as: UTF8.self) else {
                    throw WireError.badEncoding("field \(number) is not UTF-8")
                }
                switch field {
                case .kind: event.kind = Event.Kind(rawValue: text)
                case .outcome:
                    guard let o = Event.Outcome(rawValue: text) else { throw WireError.malformedPayload("outcome \(text.prefix(32))") }
                    event.outcome = o
                case .host: event.host = text
                case .program: event.program = text
                case .user: event.user = text
                case .targetUser: event.targetUser = text
                case .group: event.group = text
                case .sourceIP: event.sourceIP = text
                case .method: event.method = text
                case .rule: event.rule = text
                case .severity:
                    guard let s = Event.Severity(rawValue: text) else { throw WireError.malformedPayload("severity \(text.prefix(32))") }
                    event.severity = s
                case .raw: event.raw = Event.truncatedRaw(text)
                case .time, .pid, .sourcePort, .logonType, .count:
                    throw WireError.malformedPayload("field \(number) must be a varint")
                }
            }
        }
        guard !event.kind.rawValue.isEmpty else { throw WireError.malformedPayload("event without kind") }
        return event
    }
}
