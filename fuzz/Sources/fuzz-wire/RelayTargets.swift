// Fuzz targets past Wire: the relay's state machines driven with extreme values, the way one
// stolen edge key (or a model's answer) can drive them.
//
//   correlate  a script of events (any kind, time, count, host, user, source, edge) and
//              ticks through the built-in correlation rules; every incident that comes out
//              is rendered as an alert, which must fit the robot's limit
//   registry   a script of deliveries (any epoch and sequence number, heartbeats, events
//              claiming any host), dropped frames, ticks and save/load round trips of the
//              registry; or, when the first byte is odd, the rest as a saved state file
//   usage      bytes as a model's reply: OpenAI-compatible and Spark HTTP bodies, a Spark
//              WebSocket frame; the token figures through the hourly budget
//
// Each checks what must hold whatever the input (bounds, counts, sizes) with `require`,
// which traps like a crash so libFuzzer keeps the input.
import Foundation
import NIOCore
import Relay
import Wire

func require(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
    if !condition() { fatalError("invariant broken: \(what())") }
}

/// Reads a fuzz input as a script: bytes, and numbers that are often the extremes.
struct FuzzScript {
    private var bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isEmpty: Bool { index >= bytes.count }

    mutating func byte() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }

    mutating func raw64() -> UInt64 {
        (0..<8).reduce(0) { value, _ in value << 8 | UInt64(byte()) }
    }

    /// An unsigned 64-bit value: an extreme one for the first byte's low values, else raw.
    mutating func u64() -> UInt64 {
        switch byte() {
        case 0: 0
        case 1: 1
        case 2: .max
        case 3: .max - 1
        case 4: 1 << 63
        case 5: UInt64(UInt32.max)
        case 6...63: UInt64(byte())
        default: raw64()
        }
    }

    mutating func i64() -> Int64 {
        switch byte() {
        case 0: 0
        case 1: .min
        case 2: .max
        case 3: -1
        case 4: Event.timeRange.lowerBound
        case 5: Event.timeRange.upperBound
        case 6...127: Int64(byte())
        default: Int64(bitPattern: raw64())
        }
    }

    /// A time within `range`, often at its ends.
    mutating func time(in range: ClosedRange<Int64>) -> Int64 {
        let v = i64()
        if range.contains(v) { return v }
        let width = UInt64(bitPattern: range.upperBound &- range.lowerBound) &+ 1
        return range.lowerBound &+ Int64(bitPattern: UInt64(bitPattern: v) % (width == 0 ? .max : width))
    }

    /// Text from a small pool (so groups form), sometimes long or hostile.
    mutating func text() -> String? {
        switch byte() % 12 {
        case 0: nil
        case 1: ""
        case 2: "root"
        case 3: "alice"
        case 4: "10.0.0.\(byte())"
        case 5: "host-\(byte() % 4)"
        case 6: "2001:db8::\(byte())"
        case 7: String(repeating: "\u{0301}", count: Int(byte()) * 16 + 1)
        case 8: "a\r\nb|c\\d\u{1B}[31m https://x.example/"
        case 9: String(repeating: "x", count: Int(byte()) * 33)
        case 10: String(repeating: "é", count: Int(byte()) * 40)
        default: "h\(byte() % 3)"
        }
    }
}

// MARK: correlate

let utc = TimeZone(identifier: "UTC")!
/// A relay's clock: any moment between 1970 and 2200 (the clock is the relay's own, not
/// from outside; what comes from outside is each event's time and fields).
let clockRange = Event.timeRange

func fuzzCorrelate(_ bytes: [UInt8]) {
    var script = FuzzScript(bytes)
    var correlator = Correlator(timeZone: utc)
    correlator.maxOpen = 8
    correlator.maxPendingGroups = 16
    var arrival = script.time(in: clockRange)
    var delivered: [Incident] = []
    while !script.isEmpty {
        let op = script.byte()
        var changes: [IncidentChange] = []
        switch op % 8 {
        case 0...4:
            let kinds = Event.Kind.vocabulary
            let kind = kinds[Int(script.byte()) % kinds.count]
            let outcome: Event.Outcome? = [nil, .success, .failure][Int(script.byte()) % 3]
            // Times and counts as the decoders let them through: within their ranges.
            let time: Int64? = script.byte() & 1 == 0 ? nil : script.time(in: Event.timeRange)
            let count = script.i64()
            let severity: Event.Severity? = [nil, .info, .low, .medium, .high, .critical][Int(script.byte()) % 6]
            let event = Event(
                kind: kind, outcome: outcome, timeMicroseconds: time, host: script.text(), program: script.text(),
                user: script.text(), targetUser: script.text(), group: script.text(), sourceIP: script.text(),
                rule: script.text(), severity: severity, raw: script.text(), count: count)
            let edge: String? = [nil, "edge-1", "edge-2"][Int(script.byte()) % 3]
            changes = correlator.process(event, edge: edge, arrival: arrival)
        case 5:
            // Time passes, or the clock steps (either way).
            let step = script.i64() % 7_200_000_000
            let (next, overflow) = arrival.addingReportingOverflow(step)
            arrival = overflow ? arrival : min(max(next, clockRange.lowerBound), clockRange.upperBound)
            changes = correlator.tick(now: arrival)
        case 6:
            arrival = script.time(in: clockRange)
            changes = correlator.tick(now: arrival)
        default:
            let limit = [1_000, 4_000, 18_000, 20_000][Int(script.byte()) % 4]
            if !delivered.isEmpty {
                let digest = AlertMessage.digest(delivered, language: script.byte() & 1 == 0 ? .en : .zh, keyword: nil, timeZone: utc, maxBytes: limit)
                require(!digest.incidents.isEmpty, "a digest names at least one incident")
                require(digest.text.utf8.count <= limit, "digest of \(digest.text.utf8.count) bytes over \(limit)")
            }
            delivered.removeAll()
        }
        require(correlator.open.count <= correlator.maxOpen, "\(correlator.open.count) open incidents over \(correlator.maxOpen)")
        for change in changes {
            let incident = change.incident
            require(incident.count >= 1, "incident count \(incident.count)")
            require(incident.firstSeen <= incident.lastSeen, "first seen after last seen")
            require(incident.evidence.count <= Incident.evidenceLimit, "\(incident.evidence.count) evidence lines")
            require(incident.hosts.count <= 16, "\(incident.hosts.count) hosts")
            if case .opened = change {
                for (language, limit) in [(AlertMessage.Language.en, 4_000), (.zh, 20_000)] {
                    let message = AlertMessage.incident(incident, language: language, keyword: "alarm", timeZone: utc, maxBytes: limit)
                    require(message.text.utf8.count <= limit, "alert of \(message.text.utf8.count) bytes over \(limit)")
                    require(!message.text.contains("\r") && !message.title.contains("\n"), "line break in an alert's title or text")
                }
                if delivered.count < 64 { delivered.append(incident) }
            }
        }
    }
}

// MARK: registry

func fuzzRegistry(_ bytes: [UInt8]) {
    var script = FuzzScript(bytes)
    let policy = EdgeRegistry.Policy()
    var now = script.time(in: clockRange) / 1000
    if script.byte() & 1 == 1 {
        // A state file as a damaged disk or a hand edit could leave it.
        let data = Data(bytes.dropFirst(2))
        if var saved = try? JSONDecoder().decode(EdgeRegistry.self, from: data) {
            saved.validate()
            for step in [0, 30_000, 90_000, Int64(1) << 40] {
                _ = saved.tick(nowMilliseconds: now &+ step, policy: policy)
            }
        }
        if let window = try? JSONDecoder().decode(EdgeSequenceState.self, from: data) {
            _ = window.check(epoch: 1, sequence: 1)
            var copy = window
            _ = copy.accept(epoch: window.epoch ?? 0, sequence: .max)
        }
        return
    }
    var registry = EdgeRegistry()
    var windows: [String: EdgeSequenceState] = [:]
    let edges = ["edge-1", "edge-2", "edge-3"]
    while !script.isEmpty {
        let edge = edges[Int(script.byte()) % edges.count]
        switch script.byte() % 6 {
        case 0, 1, 2:
            let epoch = UInt32(truncatingIfNeeded: script.u64())
            let sequence = script.u64()
            var window = windows[edge] ?? EdgeSequenceState()
            guard window.check(epoch: epoch, sequence: sequence) == .fresh else { continue }
            let acceptance = window.accept(epoch: epoch, sequence: sequence)
            windows[edge] = window
            let body: FrameBody
            if script.byte() & 1 == 0 {
                body = .heartbeat(Heartbeat(uptimeSeconds: script.u64(), counters: ["lines": script.u64()]))
            } else {
                let events = (0..<Int(script.byte() % 4)).map { _ in
                    Event(kind: Event.Kind.vocabulary[Int(script.byte()) % Event.Kind.vocabulary.count], host: script.text(), raw: "x")
                }
                let allowed: [String]? = [nil, ["*"], ["host-1"], []][Int(script.byte()) % 4]
                let (tied, replaced) = registry.tieHosts(events, edge: edge, allowed: allowed)
                require(replaced >= 0 && replaced <= events.count, "\(replaced) of \(events.count) replaced")
                require(!tied.contains { $0.kind.rawValue.hasPrefix("edge.") }, "an edge spoke as the relay")
                body = .events(tied)
            }
            let frame = Frame(kind: body.kind, flags: [], dictionaryID: 0, edgeID: EdgeID(rawValue: edge)!, epoch: epoch,
                              sequence: sequence, sendTimeMilliseconds: now, payload: [])
            _ = registry.delivered(FrameReceiver.Delivery(frame: frame, body: body, acceptance: acceptance), nowMilliseconds: now)
        case 3:
            // A frame accepted then dropped by a full queue: forgotten, so it counts as lost.
            let epoch = UInt32(truncatingIfNeeded: script.u64())
            let sequence = script.u64()
            windows[edge, default: EdgeSequenceState()].forget(epoch: epoch, sequence: sequence)
            registry.dropped(edge: edge, epoch: epoch, sequence: sequence, nowMilliseconds: now)
            require(registry.records[edge].map { $0.framesLost >= 0 } ?? false, "a dropped frame left no record")
        case 4:
            let step = script.i64() % 86_400_000
            let (next, overflow) = now.addingReportingOverflow(step)
            if !overflow { now = min(max(next, clockRange.lowerBound / 1000), clockRange.upperBound / 1000) }
            let due = registry.edgesWithGapsDue(nowMilliseconds: now, policy: policy)
            for event in registry.tick(nowMilliseconds: now, policy: policy, windows: windows.filter { due.contains($0.key) }) {
                require(event.host.map(edges.contains) ?? false, "a relay event for an unknown edge")
            }
        default:
            // Saved and loaded, as across a restart.
            guard let data = try? JSONEncoder().encode(registry) else { fatalError("the registry does not encode") }
            guard var loaded = try? JSONDecoder().decode(EdgeRegistry.self, from: data) else { fatalError("the saved registry does not load") }
            loaded.validate()
            require(loaded.records == registry.records, "the registry changed across a save")
            registry = loaded
        }
        for record in registry.records.values {
            require(record.frames >= 0 && record.framesLost >= 0 && record.restarts >= 0, "a negative counter")
        }
    }
}

// MARK: usage

func fuzzUsage(_ bytes: [UInt8]) {
    var budget = AnalysisBudget(maxCalls: 60, maxTokens: 100_000)
    var now = Event.timeRange.lowerBound + 1_000_000_000_000
    for kind in [AnalysisSettings.Kind.openai, .sparkHTTP] {
        if let answer = Analyst.answer(bytes, kind: kind) {
            let tokens = Analyst.plausibleTokens(answer.tokens)
            require((0...1_000_000).contains(tokens), "\(tokens) tokens")
            for _ in 0..<3 where budget.admit(now: now) {
                budget.spend(answer.tokens, now: now)
                now += 1_000_000
            }
        }
    }
    if let (_, _, tokens) = try? Spark.parse(ByteBuffer(bytes: bytes)), let tokens {
        _ = budget.admit(now: now)
        budget.spend(tokens, now: now)
        budget.spend(Int.max, now: now)
        budget.spend(Int.min, now: now)
    }
    require(budget.tokensThisHour >= 0, "negative tokens")
    require(budget.callsThisHour <= 60, "\(budget.callsThisHour) calls over the budget")
}
