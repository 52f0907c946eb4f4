/// Puts verified fragments back together, within bounds of memory and time.
///
/// A value-type state machine: feed it verified packets and the current instant, it says
/// what to do. Only packets that passed `Packet.verify` may be added, so only the holder of
/// an edge's key can occupy that edge's share. Each edge has its own quota of bytes and of
/// pending frames; when an edge goes over, its own oldest pending frame is dropped. When the
/// total is full, new frames are refused instead: one edge's traffic never evicts another's.
public struct Reassembler: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Largest frame payload accepted for reassembly.
        public var maxPayloadBytes: Int
        /// Bytes of fragments one edge may hold pending.
        public var maxBytesPerEdge: Int
        /// Frames one edge may have pending.
        public var maxFramesPerEdge: Int
        /// Bytes of fragments held for all edges together.
        public var maxTotalBytes: Int
        /// How long an incomplete frame is kept after its first fragment.
        public var timeout: Duration

        public init(
            maxPayloadBytes: Int = 1 << 20, maxBytesPerEdge: Int = 4 << 20, maxFramesPerEdge: Int = 64,
            maxTotalBytes: Int = 64 << 20, timeout: Duration = .seconds(30)
        ) {
            self.maxPayloadBytes = maxPayloadBytes
            self.maxBytesPerEdge = maxBytesPerEdge
            self.maxFramesPerEdge = maxFramesPerEdge
            self.maxTotalBytes = maxTotalBytes
            self.timeout = timeout
        }
    }

    public enum Outcome: Sendable, Hashable {
        /// All fragments are here: the frame, with its send time from the last fragment.
        case complete(Frame)
        /// Stored; more fragments are needed.
        case pending
        /// This fragment was already held; ignored.
        case duplicate
        /// Refused; nothing held changed.
        case rejected(WireError)
    }

    public struct FrameKey: Hashable, Sendable {
        public var edgeID: EdgeID
        public var epoch: UInt32
        public var sequence: UInt64
    }

    public struct Statistics: Sendable, Hashable {
        public var completed = 0
        public var expired = 0
        /// Dropped because their edge went over its quota.
        public var evicted = 0
        /// Refused because the total was full.
        public var overflow = 0
        /// Fragments that disagree with fragments already held for the same frame.
        public var conflicts = 0
        public var duplicates = 0
    }

    private struct Pending: Sendable {
        var template: Packet
        var chunks: [ArraySlice<UInt8>?]
        var received = 0
        var bytes = 0
        var firstSeen: ContinuousClock.Instant
    }

    private struct Usage: Sendable {
        var bytes = 0
        var frames = 0
        /// The edge's pending frames, oldest first (at most `maxFramesPerEdge`): eviction
        /// looks here, not through every edge's frames.
        var order: [FrameKey] = []
    }

    public let limits: Limits
    private var pending: [FrameKey: Pending] = [:]
    private var usage: [EdgeID: Usage] = [:]
    public private(set) var totalBytes = 0
    public private(set) var statistics = Statistics()

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public var pendingFrames: Int { pending.count }

    public mutating func add(_ packet: Packet, now: ContinuousClock.Instant) -> Outcome {
        guard packet.payloadLength <= limits.maxPayloadBytes else {
            return .rejected(.oversized("frame of \(packet.payloadLength) bytes exceeds \(limits.maxPayloadBytes)"))
        }
        let key = FrameKey(edgeID: packet.edgeID, epoch: packet.epoch, sequence: packet.sequence)
        if packet.count == 1 {
            guard packet.chunk.count == packet.payloadLength else {
                return .rejected(.badFragment("single fragment of \(packet.chunk.count) bytes, frame of \(packet.payloadLength)"))
            }
            statistics.completed += 1
            return .complete(Self.frame(from: packet, payload: Array(packet.chunk)))
        }
        if var entry = pending[key] {
            guard Self.sameFrame(entry.template, packet) else {
                statistics.conflicts += 1
                return .rejected(.badFragment("fragment disagrees with the frame's other fragments"))
            }
            if let held = entry.chunks[packet.index] {
                if held == packet.chunk {
                    statistics.duplicates += 1
                    return .duplicate
                }
                statistics.conflicts += 1
                return .rejected(.badFragment("two different fragments at position \(packet.index)"))
            }
            guard entry.bytes + packet.chunk.count <= packet.payloadLength else {
                statistics.conflicts += 1
                return .rejected(.badFragment("fragments exceed the frame's declared length"))
            }
            guard reserve(packet.chunk.count, for: packet.edgeID, newFrame: false, excluding: key) else {
                statistics.overflow += 1
                return .rejected(.oversized("reassembly memory is full"))
            }
            entry.chunks[packet.index] = packet.chunk
            entry.received += 1
            entry.bytes += packet.chunk.count
            entry.template.sendTimeMilliseconds = max(entry.template.sendTimeMilliseconds, packet.sendTimeMilliseconds)
            pending[key] = entry
            return entry.received == entry.chunks.count ? finish(key) : .pending
        }
        guard reserve(packet.chunk.count, for: packet.edgeID, newFrame: true, excluding: nil) else {
            statistics.overflow += 1
            return .rejected(.oversized("reassembly memory is full"))
        }
        usage[packet.edgeID, default: Usage()].order.append(key)
        var entry = Pending(template: packet, chunks: Array(repeating: nil, count: packet.count), firstSeen: now)
        entry.template.chunk = []
        entry.chunks[packet.index] = packet.chunk
        entry.received = 1
        entry.bytes = packet.chunk.count
        pending[key] = entry
        return .pending
    }

    /// Drops frames whose first fragment is older than the timeout.
    ///
    /// - Returns: the keys of the frames dropped.
    @discardableResult
    public mutating func expire(now: ContinuousClock.Instant) -> [FrameKey] {
        let stale = pending.filter { now - $0.value.firstSeen >= limits.timeout }.map(\.key)
        for key in stale { drop(key) }
        statistics.expired += stale.count
        return stale
    }

    /// Whether a frame is partly held.
    public func isPending(_ key: FrameKey) -> Bool { pending[key] != nil }

    private mutating func finish(_ key: FrameKey) -> Outcome {
        guard let entry = pending[key] else { return .pending }
        var payload: [UInt8] = []
        payload.reserveCapacity(entry.template.payloadLength)
        for chunk in entry.chunks { payload.append(contentsOf: chunk!) }
        drop(key)
        guard payload.count == entry.template.payloadLength else {
            statistics.conflicts += 1
            return .rejected(.badFragment("fragments add up to \(payload.count) bytes, frame declares \(entry.template.payloadLength)"))
        }
        statistics.completed += 1
        return .complete(Self.frame(from: entry.template, payload: payload))
    }

    /// Makes room for `bytes` more of `edge`'s fragments; evicts that edge's own oldest
    /// frames when its quota is exceeded. False when the global total is full.
    private mutating func reserve(_ bytes: Int, for edge: EdgeID, newFrame: Bool, excluding current: FrameKey?) -> Bool {
        var use = usage[edge] ?? Usage()
        while use.bytes + bytes > limits.maxBytesPerEdge || (newFrame && use.frames + 1 > limits.maxFramesPerEdge) {
            guard let oldest = use.order.first(where: { $0 != current }) else { return false }
            drop(oldest)
            statistics.evicted += 1
            use = usage[edge] ?? Usage()
        }
        guard totalBytes + bytes <= limits.maxTotalBytes else { return false }
        use.bytes += bytes
        if newFrame { use.frames += 1 }
        usage[edge] = use
        totalBytes += bytes
        return true
    }

    private mutating func drop(_ key: FrameKey) {
        guard let entry = pending.removeValue(forKey: key) else { return }
        totalBytes -= entry.bytes
        var use = usage[key.edgeID] ?? Usage()
        use.bytes -= entry.bytes
        use.frames -= 1
        if let i = use.order.firstIndex(of: key) { use.order.remove(at: i) }
        usage[key.edgeID] = use.frames == 0 ? nil : use
    }

    private static func sameFrame(_ a: Packet, _ b: Packet) -> Bool {
        a.kind == b.kind && a.flags == b.flags && a.dictionaryID == b.dictionaryID
            && a.payloadLength == b.payloadLength && a.count == b.count
    }

    private static func frame(from p: Packet, payload: [UInt8]) -> Frame {
        Frame(header: p.header, payload: payload)
    }
}
