// Load generator for the relay benchmarks (bench/relay.sh): edge frames from many simulated
// edges, built with Wire before the clock starts, then written to the relay over one TCP
// connection (octet counting) or UDP as fast as the socket takes them.
//
//   relay-load --port P --passkey TEXT [--edges N] [--frames F] [--events E] [--udp] [--heartbeats]
import Foundation
import Wire

#if canImport(Glibc)
import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: String, in arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> String {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return fallback }
    return arguments[i + 1]
}
let port = Int(option("--port", "5514"))!
let passkey = try Passkey(option("--passkey", ""))
let edges = Int(option("--edges", "1"))!
let framesPerEdge = Int(option("--frames", "100"))!
let eventsPerFrame = Int(option("--events", "64"))!
let udp = arguments.contains("--udp")
let heartbeats = arguments.contains("--heartbeats")

// Realistic events: sshd failures and logins with their original lines.
func event(_ n: Int, edge: Int) -> Event {
    let ip = "198.51.\(n % 200).\(edge % 250 + 1)"
    let user = ["root", "admin", "oracle", "ubuntu", "test", "git"][n % 6]
    let raw = "Nov 29 16:10:\(String(format: "%02d", n % 60)) host\(edge) sshd[\(1000 + n)]: Failed password for \(user) from \(ip) port \(30000 + n % 30000) ssh2"
    return Event(kind: .login, outcome: .failure, timeMicroseconds: 1_795_939_815_000_000 + Int64(n), host: "host\(edge)", program: "sshd",
                 pid: Int64(1000 + n), user: user, sourceIP: ip, sourcePort: Int64(30000 + n % 30000), method: "password",
                 rule: "sshd.failed_password", severity: .medium, raw: raw)
}

let now = Int64(Date().timeIntervalSince1970 * 1000)
var messages: [[UInt8]] = []
var totalEvents = 0
for e in 0..<edges {
    let id = EdgeID(rawValue: "edge-\(e)")!
    let encoder = try FrameEncoder(edgeID: id, key: try passkey.edgeKey(for: id))
    let envelope = Envelope(hostname: id.rawValue)
    var sequence: UInt64 = 1
    if heartbeats {
        let frame = try encoder.makeFrame(.heartbeat(Heartbeat(uptimeSeconds: 60, counters: ["lines_read": 1])), epoch: 7, sequence: sequence, sendTimeMilliseconds: now)
        messages += try envelope.messages(for: frame, encoder: encoder, budgetBytes: udp ? Envelope.udpBudgetBytes : Envelope.tcpBudgetBytes).map { Array($0.utf8) }
        sequence += 1
    }
    for f in 0..<framesPerEdge {
        let events = (0..<eventsPerFrame).map { event(f * eventsPerFrame + $0, edge: e) }
        totalEvents += events.count
        let frame = try encoder.makeFrame(.events(events), epoch: 7, sequence: sequence, sendTimeMilliseconds: now)
        messages += try envelope.messages(for: frame, encoder: encoder, budgetBytes: udp ? Envelope.udpBudgetBytes : Envelope.tcpBudgetBytes).map { Array($0.utf8) }
        sequence += 1
    }
}

var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_port = in_port_t(UInt16(port).bigEndian)
address.sin_addr.s_addr = inet_addr("127.0.0.1")
let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
guard connected == 0 else { fatalError("connect: \(errno)") }

let start = Date()
var bytes = 0
if udp {
    for m in messages {
        // Paced just enough that loopback does not drop: the relay, not the kernel, is measured.
        while send(fd, m, m.count, 0) < 0 { usleep(50) }
        bytes += m.count
    }
} else {
    let stream = OctetCountingEncoder.stream(messages)
    var offset = 0
    while offset < stream.count {
        let n = stream[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { fatalError("send: \(errno)") }
        offset += n
    }
    bytes = stream.count
}
let seconds = Date().timeIntervalSince(start)
close(fd)
print("sent \(messages.count) messages, \(totalEvents) events, \(bytes) bytes from \(edges) edge(s) in \(String(format: "%.3f", seconds)) s")
print("events=\(totalEvents) messages=\(messages.count) start=\(start.timeIntervalSince1970)")
