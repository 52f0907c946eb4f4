/// The receiving half of Wire put together: verify each packet, check its freshness and
/// sequence, reassemble, accept once, open. The relay feeds it; tests and benchmarks use
/// it as the reference receiver.
///
/// Order matters for safety: nothing is buffered before its MAC is checked, nothing is
/// inflated before the whole frame is authenticated and accepted as new.
///
/// Not thread-safe: one per event loop or task.
public final class FrameReceiver {
    public struct Configuration: Sendable {
        public var freshness: Freshness
        public var reassembly: Reassembler.Limits
        public var decompression: DecompressionLimit
        public var payload: PayloadLimits

        public init(
            freshness: Freshness = Freshness(), reassembly: Reassembler.Limits = .init(),
            decompression: DecompressionLimit = .default, payload: PayloadLimits = .default
        ) {
            self.freshness = freshness
            self.reassembly = reassembly
            self.decompression = decompression
            self.payload = payload
        }
    }

    public struct Delivery: Sendable, Hashable {
        public var frame: Frame
        public var body: FrameBody
        public var acceptance: EdgeSequenceState.Acceptance
        /// Which of the edge's candidate keys verified the frame: 0 is its current key.
        public var keyIndex: Int

        public init(frame: Frame, body: FrameBody, acceptance: EdgeSequenceState.Acceptance, keyIndex: Int = 0) {
            self.frame = frame
            self.body = body
            self.acceptance = acceptance
            self.keyIndex = keyIndex
        }
    }

    public enum Result: Sendable, Hashable {
        case delivered(Delivery)
        /// A verified fragment was stored; the frame is not complete yet.
        case pending
        /// A frame (or fragment) already accepted: a retransmission or a replay. Harmless.
        case duplicate
        case rejected(WireError)
    }

    public let configuration: Configuration
    private let candidates: (EdgeID) -> [EdgeKey]
    private var reassembler: Reassembler
    private let opener: FrameOpener
    /// Sequence state per edge; the relay persists it across restarts.
    public var sequences: [EdgeID: EdgeSequenceState] = [:]

    /// One key per edge (nil: the edge is unknown).
    public convenience init(configuration: Configuration = Configuration(), keys: @escaping (EdgeID) -> EdgeKey?) throws {
        try self.init(configuration: configuration, candidateKeys: { keys($0).map { [$0] } ?? [] })
    }

    /// The keys each edge may sign with, its current one first (empty: the edge is unknown).
    /// More than one during a key rotation; every packet costs one HMAC per candidate tried.
    public init(configuration: Configuration = Configuration(), candidateKeys: @escaping (EdgeID) -> [EdgeKey]) throws {
        self.configuration = configuration
        self.candidates = candidateKeys
        reassembler = Reassembler(limits: configuration.reassembly)
        opener = try FrameOpener(decompressionLimit: configuration.decompression, payloadLimits: configuration.payload)
    }

    public var reassemblyStatistics: Reassembler.Statistics { reassembler.statistics }
    public var pendingFrames: Int { reassembler.pendingFrames }
    public var pendingBytes: Int { reassembler.totalBytes }

    /// Drops incomplete frames past their timeout.
    @discardableResult
    public func expire(now: ContinuousClock.Instant) -> [Reassembler.FrameKey] {
        reassembler.expire(now: now)
    }

    /// A syslog message: nil when it carries no packet (plain syslog, for the rules).
    /// `allowed` says whether an authenticated packet's edge may send from where this one
    /// came; it is asked before the packet touches reassembly or the replay window, so a
    /// genuine frame copied by someone elsewhere cannot use up its sequence number.
    public func receive(
        message: SyslogMessage, nowMilliseconds: Int64, now: ContinuousClock.Instant, allowed: (EdgeID) -> Bool = { _ in true }
    ) -> Result? {
        let bytes: [UInt8]
        do {
            guard let found = try Envelope.packetBytes(in: message) else { return nil }
            bytes = found
        } catch let error as WireError {
            return .rejected(error)
        } catch {
            return .rejected(.malformedPayload("\(error)"))
        }
        return receive(packet: bytes[...], nowMilliseconds: nowMilliseconds, now: now) { packet in
            try Envelope.checkStructuredData(of: message, against: packet)
            guard allowed(packet.edgeID) else { throw WireError.sourceNotAllowed("edge \(packet.edgeID) may not send from this address") }
        }
    }

    public func receive(
        packet bytes: ArraySlice<UInt8>, nowMilliseconds: Int64, now: ContinuousClock.Instant,
        check: (Packet) throws -> Void = { _ in }
    ) -> Result {
        do {
            let (packet, keyIndex) = try Packet.verify(bytes, candidates: candidates)
            try check(packet)
            switch configuration.freshness.check(sendTimeMilliseconds: packet.sendTimeMilliseconds, nowMilliseconds: nowMilliseconds) {
            case .fresh: break
            case .tooOld(let ms): throw WireError.stale("sent \(ms) ms ago")
            case .inFuture(let ms): throw WireError.stale("sent \(ms) ms in the future")
            }
            if let refusal = sequenceRefusal(packet.edgeID, packet.epoch, packet.sequence) { return refusal }
            let frame: Frame
            switch reassembler.add(packet, now: now) {
            case .complete(let f): frame = f
            case .pending: return .pending
            case .duplicate: return .duplicate
            case .rejected(let error): return .rejected(error)
            }
            if let refusal = sequenceRefusal(frame.edgeID, frame.epoch, frame.sequence) { return refusal }
            let acceptance = sequences[frame.edgeID, default: EdgeSequenceState()].accept(epoch: frame.epoch, sequence: frame.sequence)
            // Unsealed with the key that verified the packet completing it, else the edge's
            // other keys (its spool, sealed under the key it had before a rotation).
            let keys = candidates(frame.edgeID)
            let body: FrameBody
            do {
                guard keyIndex < keys.count else { throw WireError.badMAC("key for \(frame.edgeID) withdrawn") }
                body = try opener.open(frame, keys: [keys[keyIndex]] + keys.indices.filter { $0 != keyIndex }.map { keys[$0] })
            } catch {
                // Authenticated but not opened: its sequence number is given back, so the gap
                // it leaves is seen (edge.loss at the relay) rather than a frame taken and lost.
                sequences[frame.edgeID]?.forget(epoch: frame.epoch, sequence: frame.sequence)
                throw error
            }
            return .delivered(Delivery(frame: frame, body: body, acceptance: acceptance, keyIndex: keyIndex))
        } catch let error as WireError {
            return .rejected(error)
        } catch {
            return .rejected(.malformedPayload("\(error)"))
        }
    }

    private func sequenceRefusal(_ edge: EdgeID, _ epoch: UInt32, _ sequence: UInt64) -> Result? {
        switch sequences[edge]?.check(epoch: epoch, sequence: sequence) ?? .fresh {
        case .fresh: nil
        case .duplicate: .duplicate
        case .tooOld: .rejected(.replayed("sequence \(sequence) of epoch \(epoch) is below the window"))
        case .staleEpoch: .rejected(.replayed("epoch \(epoch) is older than the edge's last two"))
        }
    }
}
