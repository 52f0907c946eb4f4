/// The body of a `heartbeat` frame: the edge says it is alive and how it is doing.
///
/// Encoded like events (protobuf-style fields): 1 = uptime seconds (varint), 2 = counter
/// (length-delimited: 1 name, 2 value), 3 = source (length-delimited: 1 name, 2 state,
/// 3 detail).
public struct Heartbeat: Hashable, Sendable {
    public struct Source: Hashable, Sendable {
        /// The source's name, e.g. a file path or `journald`.
        public var name: String
        /// A short state word: `following`, `waiting`, `error`, ...
        public var state: String
        /// Free text for operators (offset, last error), bounded by the payload limits.
        public var detail: String?

        public init(name: String, state: String, detail: String? = nil) {
            self.name = name
            self.state = state
            self.detail = detail
        }
    }

    public var uptimeSeconds: UInt64
    /// Named counters: `lines_read`, `events`, `frames_sent`, `spool_depth`, ...
    public var counters: [String: UInt64]
    public var sources: [Source]

    public init(uptimeSeconds: UInt64, counters: [String: UInt64] = [:], sources: [Source] = []) {
        self.uptimeSeconds = uptimeSeconds
        self.counters = counters
        self.sources = sources
    }
}

enum HeartbeatCodec {
    static let maxEntries = 1024

    static func encode(_ h: Heartbeat) -> [UInt8] {
        var out: [UInt8] = []
        out.appendVarint(1 << 3)
        out.appendVarint(h.uptimeSeconds)
        for (name, value) in h.counters.sorted(by: { $0.key < $1.key }) {
            var entry: [UInt8] = []
            entry.appendString(field: 1, name)
            entry.appendVarint(2 << 3)
            entry.appendVarint(value)
            out.appendBytes(field: 2, entry)
        }
        for source in h.sources {
            var entry: [UInt8] = []
            entry.appendString(field: 1, source.name)
            entry.appendString(field: 2, source.state)
            if let detail = source.detail { entry.appendString(field: 3, detail) }
            out.appendBytes(field: 3, entry)
        }
        return out
    }

    static func decode(_ bytes: ArraySlice<UInt8>, limits: PayloadLimits) throws -> Heartbeat {
        var heartbeat = Heartbeat(uptimeSeconds: 0)
        var entries = 0
        try forEachField(bytes, limits: limits) { field, value in
            switch (field, value) {
            case (1, .varint(let v)):
                heartbeat.uptimeSeconds = v
            case (2, .bytes(let entry)):
                entries += 1
                guard entries <= maxEntries else { throw WireError.oversized("more than \(maxEntries) heartbeat entries") }
                var name: String?
                var number: UInt64?
                try forEachField(entry, limits: limits) { f, v in
                    switch (f, v) {
                    case (1, .bytes(let b)): name = try decodeString(b)
                    case (2, .varint(let n)): number = n
                    default: break
                    }
                }
                guard let name, let number else { throw WireError.malformedPayload("counter without name or value") }
                heartbeat.counters[name] = number
            case (3, .bytes(let entry)):
                entries += 1
                guard entries <= maxEntries else { throw WireError.oversized("more than \(maxEntries) heartbeat entries") }
                var source = Heartbeat.Source(name: "", state: "")
                var named = false
                try forEachField(entry, limits: limits) { f, v in
                    switch (f, v) {
                    case (1, .bytes(let b)):
                        source.name = try decodeString(b)
                        named = true
                    case (2, .bytes(let b)): source.state = try decodeString(b)
                    case (3, .bytes(let b)): source.detail = try decodeString(b)
                    default: break
                    }
                }
                guard named else { throw WireError.malformedPayload("source without name") }
                heartbeat.sources.append(source)
            default:
                break  // unknown or mistyped field from a newer version: skipped
            }
        }
        return heartbeat
    }

    private static func decodeString(_ bytes: ArraySlice<UInt8>) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw WireError.badEncoding("heartbeat text is not UTF-8") }
        return s
    }
}

enum FieldValue {
    case varint(UInt64)
    case bytes(ArraySlice<UInt8>)
}

/// Walks protobuf-style fields, refusing lengths beyond `limits.maxFieldBytes`.
func forEachField(
    _ bytes: ArraySlice<UInt8>, limits: PayloadLimits, _ body: (UInt64, FieldValue) throws -> Void
) throws {
    var reader = ByteReader(bytes)
    while !reader.isAtEnd {
        let key = try reader.readVarint("field key")
        switch key & 7 {
        case 0:
            try body(key >> 3, .varint(try reader.readVarint("field value")))
        case 2:
            let length = try reader.readVarint("field length")
            guard length <= UInt64(limits.maxFieldBytes) else { throw WireError.oversized("field of \(length) bytes") }
            guard length <= UInt64(reader.remaining) else { throw WireError.truncated("field") }
            try body(key >> 3, .bytes(try reader.readBytes(Int(length), "field")))
        default:
            throw WireError.malformedPayload("wire type \(key & 7)")
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendString(field: UInt64, _ value: String) {
        appendVarint(field << 3 | 2)
        appendVarint(UInt64(value.utf8.count))
        append(contentsOf: value.utf8)
    }

    mutating func appendBytes(field: UInt64, _ value: [UInt8]) {
        appendVarint(field << 3 | 2)
        appendVarint(UInt64(value.count))
        append(contentsOf: value)
    }
}
