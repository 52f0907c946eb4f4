/// Which sequence numbers of one (edge, epoch) have been accepted: the highest, and a bitmap
/// of the `size` numbers below it (the anti-replay window of RFC 4303 section 3.4.3).
public struct ReplayWindow: Sendable, Hashable, Codable {
    public static let size = 1024
    private static let words = size / 64

    /// Highest sequence accepted, nil before the first.
    public private(set) var highest: UInt64?
    /// Bit i of the map says whether `highest - i` was accepted.
    private var bits: [UInt64]

    public enum Verdict: Sendable, Hashable {
        case fresh
        /// Already accepted: a retransmission or a replay.
        case duplicate
        /// Below the window: cannot be told from a replay, so refused.
        case tooOld
    }

    public init() {
        highest = nil
        bits = Array(repeating: 0, count: Self.words)
    }

    public func check(_ sequence: UInt64) -> Verdict {
        guard let highest else { return .fresh }
        if sequence > highest { return .fresh }
        let offset = highest - sequence
        guard offset < UInt64(Self.size) else { return .tooOld }
        return isSet(Int(offset)) ? .duplicate : .fresh
    }

    /// Records `sequence` as accepted. Call only after `check` said `.fresh`.
    ///
    /// - Returns: the sequence numbers jumped over when `sequence` is more than one above
    ///   the previous highest (they may still arrive out of order).
    @discardableResult
    public mutating func accept(_ sequence: UInt64) -> ClosedRange<UInt64>? {
        guard let current = highest else {
            highest = sequence
            bits[0] = 1
            return nil
        }
        if sequence > current {
            shift(by: sequence - current)
            highest = sequence
            bits[0] |= 1
            return sequence - current > 1 ? (current + 1)...(sequence - 1) : nil
        }
        let offset = Int(current - sequence)
        if offset < Self.size { set(offset) }
        return nil
    }

    /// Takes back an acceptance (the frame could not be kept after all): a resend of it is
    /// fresh again. Only within the window; `highest` stays.
    public mutating func forget(_ sequence: UInt64) {
        guard let highest, sequence <= highest else { return }
        let offset = highest - sequence
        guard offset < UInt64(Self.size) else { return }
        bits[Int(offset) / 64] &= ~(1 << UInt64(offset % 64))
    }

    /// Sequence numbers in the window below `highest` not (yet) accepted.
    public var missingCount: Int {
        guard let highest else { return 0 }
        // Sequences start at 1: the window covers highest down to max(1, highest - size + 1).
        let span = Int(min(UInt64(Self.size), highest))
        var seen = 0
        for i in 0..<span where isSet(i) { seen += 1 }
        return span - seen
    }

    private func isSet(_ offset: Int) -> Bool { bits[offset / 64] & (1 << UInt64(offset % 64)) != 0 }
    private mutating func set(_ offset: Int) { bits[offset / 64] |= 1 << UInt64(offset % 64) }

    private mutating func shift(by amount: UInt64) {
        guard amount < UInt64(Self.size) else {
            for i in bits.indices { bits[i] = 0 }
            return
        }
        let wordShift = Int(amount / 64)
        let bitShift = UInt64(amount % 64)
        for i in stride(from: Self.words - 1, through: 0, by: -1) {
            let src = i - wordShift
            var v: UInt64 = 0
            if src >= 0 {
                v = bits[src] << bitShift
                if bitShift > 0 && src - 1 >= 0 { v |= bits[src - 1] >> (64 - bitShift) }
            }
            bits[i] = v
        }
    }
}

/// What the relay knows of one edge's sequence numbers: the current boot epoch's window and
/// those of the few epochs before it, so frames spooled before restarts (an edge that
/// restarted several times while the relay was unreachable) still count once each.
public struct EdgeSequenceState: Sendable, Hashable, Codable {
    /// Earlier epochs remembered besides the current one.
    public static let previousEpochs = 8

    public private(set) var epoch: UInt32?
    public private(set) var window = ReplayWindow()
    /// Earlier epochs, oldest first.
    private var previous: [Previous] = []

    struct Previous: Sendable, Hashable, Codable {
        var epoch: UInt32
        var window: ReplayWindow
    }

    public enum Verdict: Sendable, Hashable {
        case fresh
        case duplicate
        case tooOld
        /// From an epoch older than those the relay remembers.
        case staleEpoch
    }

    public struct Acceptance: Sendable, Hashable {
        /// The epoch is new: the edge restarted (its first frame ever also counts).
        public var newEpoch: Bool
        /// The epoch this one replaced, if any.
        public var replacedEpoch: UInt32?
        /// Sequence numbers jumped over in the current epoch.
        public var gap: ClosedRange<UInt64>?
    }

    public init() {}

    public func check(epoch frameEpoch: UInt32, sequence: UInt64) -> Verdict {
        guard let epoch else { return .fresh }
        if frameEpoch > epoch { return .fresh }
        if frameEpoch == epoch { return Self.verdict(window.check(sequence)) }
        if let p = previous.first(where: { $0.epoch == frameEpoch }) { return Self.verdict(p.window.check(sequence)) }
        // An epoch between remembered ones that was never seen: its frames are new to us,
        // unless it is older than everything remembered.
        if let oldest = previous.first?.epoch ?? self.epoch, frameEpoch > oldest || previous.count < Self.previousEpochs {
            return .fresh
        }
        return .staleEpoch
    }

    /// Records a frame `check` called fresh.
    public mutating func accept(epoch frameEpoch: UInt32, sequence: UInt64) -> Acceptance {
        if let epoch, frameEpoch < epoch {
            if let i = previous.firstIndex(where: { $0.epoch == frameEpoch }) {
                previous[i].window.accept(sequence)
            } else {
                var w = ReplayWindow()
                w.accept(sequence)
                previous.append(Previous(epoch: frameEpoch, window: w))
                previous.sort { $0.epoch < $1.epoch }
                if previous.count > Self.previousEpochs { previous.removeFirst(previous.count - Self.previousEpochs) }
            }
            return Acceptance(newEpoch: false, replacedEpoch: nil, gap: nil)
        }
        var result = Acceptance(newEpoch: false, replacedEpoch: nil, gap: nil)
        if frameEpoch != epoch {
            result.newEpoch = true
            result.replacedEpoch = epoch
            if let epoch {
                previous.append(Previous(epoch: epoch, window: window))
                if previous.count > Self.previousEpochs { previous.removeFirst(previous.count - Self.previousEpochs) }
            }
            epoch = frameEpoch
            window = ReplayWindow()
            // Every epoch starts at sequence 1: a later first frame means earlier ones are
            // missing (they may still arrive out of order).
            window.accept(sequence)
            result.gap = sequence > 1 ? 1...(sequence - 1) : nil
            return result
        }
        result.gap = window.accept(sequence)
        return result
    }

    /// Takes back the acceptance of (epoch, sequence): see `ReplayWindow.forget`.
    public mutating func forget(epoch frameEpoch: UInt32, sequence: UInt64) {
        if frameEpoch == epoch {
            window.forget(sequence)
        } else if let i = previous.firstIndex(where: { $0.epoch == frameEpoch }) {
            previous[i].window.forget(sequence)
        }
    }

    /// Records (epoch, sequence) unless it is already recorded or too old to be: the
    /// pipeline's committed copy, which follows what the receiver accepted.
    public mutating func record(epoch frameEpoch: UInt32, sequence: UInt64) {
        guard check(epoch: frameEpoch, sequence: sequence) == .fresh else { return }
        _ = accept(epoch: frameEpoch, sequence: sequence)
    }

    private static func verdict(_ v: ReplayWindow.Verdict) -> Verdict {
        switch v {
        case .fresh: .fresh
        case .duplicate: .duplicate
        case .tooOld: .tooOld
        }
    }
}

/// Refuses frames whose send time is too far from the receiver's clock.
public struct Freshness: Sendable, Hashable {
    /// How old a frame's send time may be.
    public var maxAge: Duration
    /// How far ahead of the receiver's clock it may be.
    public var maxFuture: Duration

    public init(maxAge: Duration = .seconds(600), maxFuture: Duration = .seconds(600)) {
        self.maxAge = maxAge
        self.maxFuture = maxFuture
    }

    public enum Verdict: Sendable, Hashable {
        case fresh
        case tooOld(milliseconds: Int64)
        case inFuture(milliseconds: Int64)
    }

    public func check(sendTimeMilliseconds: Int64, nowMilliseconds: Int64) -> Verdict {
        // Widened arithmetic: a hostile send time (Int64.min, Int64.max) must not overflow.
        let age = Int128(nowMilliseconds) - Int128(sendTimeMilliseconds)
        let clamped = Int64(clamping: age)
        if age > Int128(Self.milliseconds(maxAge)) { return .tooOld(milliseconds: clamped) }
        if -age > Int128(Self.milliseconds(maxFuture)) { return .inFuture(milliseconds: Int64(clamping: -age)) }
        return .fresh
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (ms, overflow) = d.components.seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? .max : ms &+ d.components.attoseconds / 1_000_000_000_000_000
    }
}
