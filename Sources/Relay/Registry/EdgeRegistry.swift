import Foundation
import Wire

/// What the relay knows of each edge, and the events the relay raises about them itself:
/// `edge.restarted` (a new boot epoch), `edge.loss` (sequence numbers still missing once late
/// frames had time to arrive), `edge.silent` (no heartbeat for too long: an attacker who
/// kills the agent must not buy silence).
///
/// A value-type state machine: it is told of deliveries and of the time, and says what to
/// raise. Persisted with the replay windows, so a relay restart keeps both.
package struct EdgeRegistry: Codable, Sendable {
    package struct Record: Codable, Sendable, Hashable {
        package var epoch: UInt32 = 0
        package var lastFrameMilliseconds: Int64 = 0
        package var lastHeartbeatMilliseconds: Int64?
        package var frames: Int = 0
        package var restarts: Int = 0
        package var framesLost: Int = 0
        package var silent = false
        var suspectedGaps: [Gap] = []
        /// The host this edge speaks for: the first its events named (or its id).
        package var host: String?
        /// Events whose host was not the edge's and was replaced by it.
        package var hostsReplaced: Int = 0
        /// The edge's `spool_failures` counter at its last heartbeat (optional: state saved
        /// before it existed still loads).
        package var spoolFailures: UInt64?
        /// Which key signed the edge's last frame when it was not its current one (during a
        /// rotation: "previous passkey", "generation 1"); nil when it was.
        package var previousKey: String?
    }

    struct Gap: Codable, Sendable, Hashable {
        var epoch: UInt32
        var first: UInt64
        var last: UInt64
        var seenMilliseconds: Int64
    }

    package struct Policy: Sendable {
        /// No heartbeat for this long raises `edge.silent` (default 3 heartbeats of 30 s).
        package var silenceMilliseconds: Int64 = 90_000
        /// A gap still open after this long is a loss (late and reordered frames had time).
        package var lossAfterMilliseconds: Int64 = 30_000
        package init() {}
    }

    package private(set) var records: [String: Record] = [:]

    enum CodingKeys: String, CodingKey { case records }

    package init() {}

    /// A frame was accepted.
    /// `key` says which key signed it when that was not the edge's current key.
    package mutating func delivered(_ delivery: FrameReceiver.Delivery, key: String? = nil, nowMilliseconds now: Int64) -> [Event] {
        let id = delivery.frame.edgeID.rawValue
        var record = records[id] ?? Record()
        var events: [Event] = []
        record.previousKey = key
        record.frames = record.frames == .max ? .max : record.frames + 1
        record.lastFrameMilliseconds = now
        if delivery.frame.epoch >= record.epoch { record.epoch = delivery.frame.epoch }
        if delivery.acceptance.newEpoch, let previous = delivery.acceptance.replacedEpoch {
            record.restarts = record.restarts == .max ? .max : record.restarts + 1
            events.append(Self.event(.edgeRestarted, id, now, severity: .medium,
                "edge \(id) restarted: epoch \(previous) became \(delivery.frame.epoch)"))
        }
        if let gap = delivery.acceptance.gap {
            record.suspectedGaps.append(Gap(epoch: delivery.frame.epoch, first: gap.lowerBound, last: gap.upperBound, seenMilliseconds: now))
            if record.suspectedGaps.count > 64 { record.suspectedGaps.removeFirst(record.suspectedGaps.count - 64) }
        }
        if case .heartbeat(let heartbeat) = delivery.body {
            // An edge that cannot write its spool (a full disk: any local user can fill one)
            // holds its events back and reads no further: the operator must hear of it, not
            // only of the frames that seem lost.
            if let failures = heartbeat.counters["spool_failures"] {
                let previous = delivery.acceptance.newEpoch ? 0 : (record.spoolFailures ?? 0)
                if failures > previous {
                    events.append(Self.event(.edgeLoss, id, now, severity: .high,
                        "edge \(id) could not write its spool \(failures - previous) time(s) since its last heartbeat (a full disk?): it holds its events back and reads no further until it can"))
                }
                record.spoolFailures = failures
            }
            record.lastHeartbeatMilliseconds = now
            if record.silent {
                record.silent = false
                events.append(Self.event(.edgeSilent, id, now, severity: .info, outcome: .success, "edge \(id) is heard again"))
            }
        }
        records[id] = record
        return events
    }

    /// An accepted frame the relay could not keep (its queue was full): its acceptance was
    /// taken back, and it is a suspected gap like any other. A resend (over TCP the edge
    /// resends after the relay closes the connection) fills it; otherwise, once late frames
    /// had time, it is raised as `edge.loss`.
    package mutating func dropped(edge: String, epoch: UInt32, sequence: UInt64, nowMilliseconds now: Int64) {
        var record = records[edge] ?? Record()
        // A resend dropped again (reconnects under a lasting overload) is the same gap.
        if record.suspectedGaps.contains(where: { $0.epoch == epoch && ($0.first...$0.last).contains(sequence) }) { return }
        if let last = record.suspectedGaps.last, last.epoch == epoch, last.last != .max, last.last + 1 == sequence {
            record.suspectedGaps[record.suspectedGaps.count - 1].last = sequence
        } else {
            record.suspectedGaps.append(Gap(epoch: epoch, first: sequence, last: sequence, seenMilliseconds: now))
            if record.suspectedGaps.count > 64 { record.suspectedGaps.removeFirst(record.suspectedGaps.count - 64) }
        }
        records[edge] = record
    }

    /// An edge's events with their host tied to the edge: a stolen key speaks for that edge
    /// and nothing else. `allowed` lists the host names the edge may speak for (from
    /// `edges.hosts`; `*` for any, e.g. an edge reading a log server's files); without a list
    /// the edge speaks for its id and the first host name its events gave (pinned and kept
    /// with the registry). An event naming another host gets the edge's, and is counted; its
    /// raw line still shows what it claimed.
    package mutating func tieHosts(_ events: [Event], edge: String, allowed: [String]?) -> (events: [Event], replaced: Int) {
        // The relay's own kinds (edge.silent, edge.loss, ...) are the relay's to raise: an edge
        // that sends them could open the incident first and swallow the real one.
        let own = events.filter { !$0.kind.rawValue.hasPrefix("edge.") }
        let refusedKinds = events.count - own.count
        if let allowed, allowed.contains("*") { return (own, refusedKinds) }
        var record = records[edge] ?? Record()
        if allowed == nil, record.host == nil {
            record.host = own.lazy.compactMap(\.host).first { !$0.isEmpty } ?? edge
        }
        let names = allowed ?? [record.host ?? edge]
        let fallback = names.first ?? edge
        // Host names compare without regard to ASCII case (Foundation's caseInsensitiveCompare
        // cost more than decoding the frame: two calls per event).
        func same(_ a: String, _ b: String) -> Bool {
            a == b || (a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { x, y in
                x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
            })
        }
        func permitted(_ host: String) -> Bool {
            same(host, edge) || names.contains { same($0, host) }
        }
        var replaced = refusedKinds
        var out = own
        for i in out.indices {
            guard let host = out[i].host, !permitted(host) else {
                if out[i].host == nil { out[i].host = fallback }
                continue
            }
            out[i].host = fallback
            replaced += 1
        }
        let (sum, overflow) = record.hostsReplaced.addingReportingOverflow(replaced)
        record.hostsReplaced = overflow ? .max : sum
        records[edge] = record
        return (out, replaced)
    }

    /// The edges with a gap old enough to be judged at `now`: `tick` needs their replay
    /// windows (the receiver owns them; only these are looked up).
    package func edgesWithGapsDue(nowMilliseconds now: Int64, policy: Policy) -> [String] {
        records.compactMap { id, record in
            record.suspectedGaps.contains { Self.age($0.seenMilliseconds, now) >= policy.lossAfterMilliseconds } ? id : nil
        }
    }

    /// Time passed: raises losses and silences that are now certain. `windows` are the
    /// receiver's replay windows of the edges `edgesWithGapsDue` named: a gap's frames that
    /// came late are in them, the others were lost.
    package mutating func tick(nowMilliseconds now: Int64, policy: Policy, windows: [String: EdgeSequenceState] = [:]) -> [Event] {
        var events: [Event] = []
        for id in records.keys.sorted() {
            guard var record = records[id] else { continue }
            let heard = record.lastHeartbeatMilliseconds ?? record.lastFrameMilliseconds
            if !record.silent, Self.age(heard, now) >= policy.silenceMilliseconds {
                record.silent = true
                events.append(Self.event(.edgeSilent, id, now, severity: .high,
                    "edge \(id) has sent no heartbeat for \(Self.age(heard, now) / 1000) s"))
            }
            var open: [Gap] = []
            for gap in record.suspectedGaps {
                guard Self.age(gap.seenMilliseconds, now) >= policy.lossAfterMilliseconds else {
                    open.append(gap)
                    continue
                }
                let state = windows[id] ?? EdgeSequenceState()
                let (count, missing) = Self.missing(in: gap, state: state)
                if count > 0 {
                    // Saturating: a gap is as wide as an authenticated edge made it (up to 2^64).
                    let (sum, overflow) = UInt64(clamping: record.framesLost).addingReportingOverflow(count)
                    record.framesLost = Int(clamping: overflow ? UInt64.max : sum)
                    let ranges = missing.prefix(8).map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
                    let jump = gap.last - gap.first >= Self.sequenceJump ? " (a jump in sequence numbers, not a loss the edge could make: a reset or a stolen key)" : ""
                    events.append(Self.event(.edgeLoss, id, now, severity: .high,
                        "edge \(id) lost \(count) frame(s) of epoch \(gap.epoch): \(ranges.joined(separator: ", "))\(jump)"))
                }
            }
            record.suspectedGaps = open
            records[id] = record
        }
        return events
    }

    /// How long ago `then` was at `now`, saturating (times are the relay's own, but they come
    /// back from a state file that may be damaged).
    static func age(_ then: Int64, _ now: Int64) -> Int64 {
        let (age, overflow) = now.subtractingReportingOverflow(then)
        return overflow ? (then > now ? .min : .max) : age
    }

    /// A gap this wide (frames) is no loss an edge could make: at 100 frames a second it is
    /// five months of sending.
    static let sequenceJump: UInt64 = 1 << 30

    /// The frames of `gap` that never arrived (at most 10,000 examined one by one; past them
    /// the rest is counted whole), as a count and ranges. Any 64-bit bounds are safe.
    static func missing(in gap: Gap, state: EdgeSequenceState) -> (UInt64, [ClosedRange<UInt64>]) {
        guard gap.first <= gap.last else { return (0, []) }
        var missing: [ClosedRange<UInt64>] = []
        var count: UInt64 = 0
        for sequence in gap.first...gap.last {
            if sequence - gap.first >= 10_000 {
                count += gap.last - sequence
                count = count == UInt64.max ? count : count + 1
                missing.append(sequence...gap.last)
                break
            }
            if state.check(epoch: gap.epoch, sequence: sequence) != .duplicate {
                count += 1
                if let last = missing.last, last.upperBound &+ 1 == sequence {
                    missing[missing.count - 1] = last.lowerBound...sequence
                } else {
                    missing.append(sequence...sequence)
                }
            }
        }
        return (count, missing)
    }

    /// Drops what a damaged or hand-edited state file could hold that no running relay
    /// writes: gaps whose bounds are reversed, negative counters, times outside 1970-2200.
    package mutating func validate() {
        let times = 0...(Event.timeRange.upperBound / 1000)
        func clamp(_ t: Int64) -> Int64 { min(max(t, times.lowerBound), times.upperBound) }
        for (id, var record) in records {
            record.suspectedGaps.removeAll { $0.first > $0.last }
            for i in record.suspectedGaps.indices { record.suspectedGaps[i].seenMilliseconds = clamp(record.suspectedGaps[i].seenMilliseconds) }
            record.lastFrameMilliseconds = clamp(record.lastFrameMilliseconds)
            record.lastHeartbeatMilliseconds = record.lastHeartbeatMilliseconds.map(clamp)
            if record.suspectedGaps.count > 64 { record.suspectedGaps.removeFirst(record.suspectedGaps.count - 64) }
            record.frames = max(0, record.frames)
            record.restarts = max(0, record.restarts)
            record.framesLost = max(0, record.framesLost)
            records[id] = record
        }
    }

    static func event(
        _ kind: Event.Kind, _ edge: String, _ now: Int64, severity: Event.Severity, outcome: Event.Outcome? = nil, _ text: String,
        sourceIP: String? = nil
    ) -> Event {
        let (micro, overflow) = now.multipliedReportingOverflow(by: 1000)
        return Event(kind: kind, outcome: outcome, timeMicroseconds: overflow ? (now < 0 ? .min : .max) : micro, host: edge, program: "relay", sourceIP: sourceIP,
              rule: "relay." + kind.rawValue.replacingOccurrences(of: ".", with: "_"), severity: severity, raw: text)
    }
}
