// Micro-benchmark of Wire (release build): encode and decode rates, and bytes on the wire
// per event for batches of real auth-log lines. bench/wire.sh runs it.
//
//   wire-bench FILE [SECONDS]
//
// Each line becomes an event carrying the fields an sshd rule would fill and the line
// itself as `raw` (until the detection library exists, fields come from a simple scan).
import Foundation
import Wire

func makeEvents(_ lines: [String]) -> [Event] {
    let parser = SyslogParser(timeZone: TimeZone(identifier: "UTC")!)
    return lines.map { line in
        let m = (try? parser.parse(Array(line.utf8))) ?? SyslogMessage(format: .rfc3164, message: line)
        let words = m.message.split(separator: " ")
        func after(_ w: String) -> String? {
            guard let i = words.firstIndex(where: { $0 == w }), i + 1 < words.count else { return nil }
            return String(words[i + 1])
        }
        let failed = m.message.contains("Failed") || m.message.contains("Invalid") || m.message.contains("failure")
        return Event(
            kind: .login, outcome: failed ? .failure : .success, timeMicroseconds: m.timestamp?.microseconds,
            host: m.hostname, program: m.appName, pid: m.procID.flatMap { Int64($0) }, user: after("user") ?? after("for"),
            sourceIP: after("from"), sourcePort: after("port").flatMap { Int64($0) },
            method: m.message.contains("password") ? "password" : nil, rule: "bench.sshd",
            severity: failed ? .medium : .info, raw: line)
    }
}

func measure(seconds: Double, _ body: () throws -> Int) rethrows -> (iterations: Int, units: Int, elapsed: Double) {
    let start = Date()
    var iterations = 0
    var units = 0
    while Date().timeIntervalSince(start) < seconds {
        units += try body()
        iterations += 1
    }
    return (iterations, units, Date().timeIntervalSince(start))
}

let args = CommandLine.arguments
guard args.count >= 2, let text = try? String(contentsOfFile: args[1], encoding: .utf8) else {
    print("usage: wire-bench AUTH-LOG [SECONDS]")
    exit(2)
}
let seconds = args.count > 2 ? Double(args[2]) ?? 3 : 3
let lines = text.split(separator: "\n").map(String.init)
let events = makeEvents(lines)
let passkey = try Passkey("benchmark passkey, not a secret")
let edge = EdgeID(rawValue: "bench-01")!
let key = passkey.edgeKey(for: edge)
let envelope = Envelope(hostname: "bench-01")

print("input: \(args[1]) (\(lines.count) lines)")
print("")
print("bytes on the wire (UDP budget \(Envelope.udpBudgetBytes), all fragments, syslog text) per event, against the raw line:")
print("batch   raw B/event   wire B/event   wire/raw   datagrams/frame")
for batch in [1, 16, 64] {
    let encoder = try FrameEncoder(edgeID: edge, key: key)
    var raw = 0, wire = 0, frames = 0, datagrams = 0
    var sequence: UInt64 = 0
    for start in stride(from: 0, to: events.count - batch + 1, by: batch) {
        let slice = Array(events[start..<(start + batch)])
        sequence += 1
        let frame = try encoder.makeFrame(.events(slice), epoch: 1, sequence: sequence, sendTimeMilliseconds: 1_795_939_815_000)
        let messages = try envelope.messages(for: frame, encoder: encoder, budgetBytes: Envelope.udpBudgetBytes)
        raw += lines[start..<(start + batch)].reduce(0) { $0 + $1.utf8.count + 1 }
        wire += messages.reduce(0) { $0 + $1.utf8.count }
        frames += 1
        datagrams += messages.count
    }
    let n = Double(frames * batch)
    print(String(format: "%5d   %11.1f   %12.1f   %7.1f%%   %15.2f", batch, Double(raw) / n, Double(wire) / n, 100 * Double(wire) / Double(raw), Double(datagrams) / Double(frames)))
}

print("")
print("speed, single thread, \(seconds) s each (MB/s counts raw log bytes carried):")
print("batch   encode frames/s   encode events/s   encode MB/s   decode frames/s   decode events/s   decode MB/s")
for batch in [1, 16, 64] {
    let encoder = try FrameEncoder(edgeID: edge, key: key)
    let slices = stride(from: 0, to: events.count - batch + 1, by: batch).map { Array(events[$0..<($0 + batch)]) }
    let rawPerSlice = stride(from: 0, to: events.count - batch + 1, by: batch).map { lines[$0..<($0 + batch)].reduce(0) { $0 + $1.utf8.count + 1 } }
    var sequence: UInt64 = 0
    var next = 0
    var rawBytes = 0
    let enc = try measure(seconds: seconds) {
        let i = next % slices.count
        next += 1
        sequence += 1
        rawBytes += rawPerSlice[i]
        let frame = try encoder.makeFrame(.events(slices[i]), epoch: 1, sequence: sequence, sendTimeMilliseconds: 1_795_939_815_000)
        return try envelope.messages(for: frame, encoder: encoder, budgetBytes: Envelope.udpBudgetBytes).count > 0 ? batch : 0
    }
    let encRaw = rawBytes
    // Pre-encode a long run of distinct sequence numbers, then time receiving them.
    let total = min(200_000 / batch, 20_000)
    var texts: [[UInt8]] = []
    var rawDecoded = 0
    for s in 0..<total {
        let i = s % slices.count
        let frame = try encoder.makeFrame(.events(slices[i]), epoch: 1, sequence: UInt64(s + 1), sendTimeMilliseconds: 1_795_939_815_000)
        texts += try envelope.messages(for: frame, encoder: encoder, budgetBytes: Envelope.udpBudgetBytes).map { Array($0.utf8) }
        rawDecoded += rawPerSlice[i]
    }
    let parser = SyslogParser(timeZone: TimeZone(identifier: "UTC")!)
    var decodedEvents = 0
    var decodedFrames = 0
    var rounds = 0
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        let receiver = try FrameReceiver(configuration: .init(freshness: Freshness(maxAge: .seconds(1 << 40), maxFuture: .seconds(1 << 40)))) {
            $0 == edge ? key : nil
        }
        for t in texts {
            let m = try parser.parse(t)
            if case .delivered(let d)? = receiver.receive(message: m, nowMilliseconds: 1_795_939_815_000, now: .now),
                case .events(let e) = d.body
            {
                decodedEvents += e.count
                decodedFrames += 1
            }
        }
        rounds += 1
    }
    let decElapsed = Date().timeIntervalSince(start)
    print(String(format: "%5d   %15.0f   %15.0f   %11.1f   %15.0f   %15.0f   %11.1f", batch,
                 Double(enc.iterations) / enc.elapsed, Double(enc.units) / enc.elapsed, Double(encRaw) / enc.elapsed / 1e6,
                 Double(decodedFrames) / decElapsed, Double(decodedEvents) / decElapsed, Double(rawDecoded * rounds) / decElapsed / 1e6))
}
