import Wire

/// Raises `edge.forgery` for frames refused as forged, replayed, out of time or from an
/// address their edge may not use, rate-limited per claimed edge: the first refusal raises
/// at once, later ones are folded into one summary per `periodMilliseconds`. A flood of
/// forged packets is a handful of events (and one incident), not one per packet.
///
/// Refusals claiming edges the relay has never heard from are one group, `unknown edges`
/// (an attacker can claim any id: a thousand invented ids were a thousand incidents and
/// alerts), and at most `maxEventsPerPeriod` events are raised in a period over all groups;
/// what is over goes into the next summaries. Bounded: at most `maxEdges` claimed ids are
/// tracked; refusals claiming others are counted under `*`.
struct ForgeryTracker: Sendable {
    struct Entry: Sendable {
        var lastRaised: Int64
        var unreported = 0
        var reasons: [String: Int] = [:]
        var senders: [String] = []
    }

    var periodMilliseconds: Int64 = 60_000
    var maxEdges = 1024
    var maxEventsPerPeriod = 16
    private(set) var entries: [String: Entry] = [:]
    /// Events raised in the current period, over all groups.
    private var raised: (since: Int64, count: Int) = (0, 0)
    static let unknownEdges = "unknown edges"

    /// `known`: whether the claimed edge has ever sent the relay a valid frame.
    mutating func record(claimedEdge: String, known: Bool = true, reason: String, sender: String, nowMilliseconds now: Int64) -> Event? {
        let claimed = known ? claimedEdge : Self.unknownEdges
        let key = entries[claimed] != nil || entries.count < maxEdges ? claimed : "*"
        if now - raised.since >= periodMilliseconds { raised = (now, 0) }
        let overBudget = raised.count >= maxEventsPerPeriod
        if var entry = entries[key], now - entry.lastRaised < periodMilliseconds || overBudget {
            entry.unreported += 1
            entry.reasons[reason, default: 0] += 1
            if !entry.senders.contains(sender), entry.senders.count < 8 { entry.senders.append(sender) }
            entries[key] = entry
            return nil
        }
        if overBudget {
            entries[key] = Entry(lastRaised: now - periodMilliseconds, unreported: 1, reasons: [reason: 1], senders: [sender])
            return nil
        }
        entries[key] = Entry(lastRaised: now)
        raised.count += 1
        return Self.event(key, count: 1, reasons: [reason: 1], senders: [sender], now: now)
    }

    /// Summaries of refusals not yet reported whose period is over; forgets quiet edges.
    mutating func tick(nowMilliseconds now: Int64) -> [Event] {
        var events: [Event] = []
        // Oldest report first: no group can keep the budget from another period after period.
        for (key, current) in entries.sorted(by: { ($0.value.lastRaised, $0.key) < ($1.value.lastRaised, $1.key) }) {
            var entry = current
            guard now - entry.lastRaised >= periodMilliseconds else { continue }
            if now - raised.since >= periodMilliseconds { raised = (now, 0) }
            if entry.unreported > 0, raised.count < maxEventsPerPeriod {
                raised.count += 1
                events.append(Self.event(key, count: entry.unreported, reasons: entry.reasons, senders: entry.senders, now: now))
                entry = Entry(lastRaised: now)
                entries[key] = entry
            } else if entry.unreported == 0, now - entry.lastRaised >= 10 * periodMilliseconds {
                entries[key] = nil
            }
        }
        return events
    }

    static func event(_ edge: String, count: Int, reasons: [String: Int], senders: [String], now: Int64) -> Event {
        let why = reasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let from = senders.joined(separator: ", ")
        return EdgeRegistry.event(
            .edgeForgery, edge, now, severity: .high,
            "\(count) frame(s) claiming edge \(edge) refused (\(why)) from \(from)", sourceIP: senders.first)
    }
}
