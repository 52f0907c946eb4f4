/// What a frame carries.
public struct FrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A batch of events.
    public static let events = FrameKind(rawValue: 1)
    /// The edge is alive; counters and source states.
    public static let heartbeat = FrameKind(rawValue: 2)

    static let known: Set<UInt8> = [1, 2]

    public var description: String {
        switch rawValue {
        case 1: "events"
        case 2: "heartbeat"
        default: "kind(\(rawValue))"
        }
    }
}

/// How the payload is transformed. Bits not defined here must be zero.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Payload is raw deflate (RFC 1951), with the preset dictionary the header names.
    public static let deflated = FrameFlags(rawValue: 0x01)
    /// Payload is sealed with ChaCha20-Poly1305 (after compression).
    public static let sealed = FrameFlags(rawValue: 0x02)

    static let all: FrameFlags = [.deflated, .sealed]
}

/// What a frame says about itself, and what each of its packets repeats: the fields
/// `Frame` and `Packet` share, declared once (docs/wire-protocol.md, "Packet").
///
/// An edge never reuses (`edgeID`, `epoch`, `sequence`); the relay accepts each once.
/// `sendTimeMilliseconds` is the time of this transmission: a resent frame keeps its
/// sequence and payload, takes a new send time and is signed again.
public struct FrameHeader: Hashable, Sendable {
    public var kind: FrameKind
    public var flags: FrameFlags
    public var dictionaryID: UInt8
    public var edgeID: EdgeID
    public var epoch: UInt32
    public var sequence: UInt64
    public var sendTimeMilliseconds: Int64

    public init(
        kind: FrameKind, flags: FrameFlags, dictionaryID: UInt8, edgeID: EdgeID, epoch: UInt32, sequence: UInt64, sendTimeMilliseconds: Int64
    ) {
        self.kind = kind
        self.flags = flags
        self.dictionaryID = dictionaryID
        self.edgeID = edgeID
        self.epoch = epoch
        self.sequence = sequence
        self.sendTimeMilliseconds = sendTimeMilliseconds
    }
}

/// A frame: one authenticated unit of the protocol, before fragmentation and after
/// reassembly: its header and its payload, as sent (compressed and/or sealed per `flags`).
/// The header's fields read as the frame's own (`frame.epoch`).
@dynamicMemberLookup
public struct Frame: Hashable, Sendable {
    public var header: FrameHeader
    public var payload: [UInt8]

    public init(header: FrameHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    public init(
        kind: FrameKind, flags: FrameFlags, dictionaryID: UInt8, edgeID: EdgeID, epoch: UInt32,
        sequence: UInt64, sendTimeMilliseconds: Int64, payload: [UInt8]
    ) {
        header = FrameHeader(
            kind: kind, flags: flags, dictionaryID: dictionaryID, edgeID: edgeID, epoch: epoch, sequence: sequence,
            sendTimeMilliseconds: sendTimeMilliseconds)
        self.payload = payload
    }

    @inlinable
    public subscript<T>(dynamicMember field: WritableKeyPath<FrameHeader, T>) -> T {
        get { header[keyPath: field] }
        set { header[keyPath: field] = newValue }
    }
}

/// A frame's decoded content.
public enum FrameBody: Hashable, Sendable {
    case events([Event])
    case heartbeat(Heartbeat)

    public var kind: FrameKind {
        switch self {
        case .events: .events
        case .heartbeat: .heartbeat
        }
    }
}
