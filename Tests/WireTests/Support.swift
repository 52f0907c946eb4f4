import Foundation
import Testing

@testable import Wire

/// Test helpers shared by the Wire tests.
enum Fixtures {
    static let vectorsURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Vectors/wire-vectors.json")

    static func vectors() throws -> [String: Any] {
        let data = try Data(contentsOf: vectorsURL)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func event(from json: [String: Any]) -> Event {
        func s(_ k: String) -> String? { json[k] as? String }
        func i(_ k: String) -> Int64? { (json[k] as? NSNumber)?.int64Value }
        return Event(
            kind: Event.Kind(rawValue: s("kind")!), outcome: s("outcome").flatMap(Event.Outcome.init),
            timeMicroseconds: i("time_us"), host: s("host"), program: s("program"), pid: i("pid"),
            user: s("user"), targetUser: s("target_user"), group: s("group"), sourceIP: s("source_ip"),
            sourcePort: i("source_port"), method: s("method"), logonType: i("logon_type"), rule: s("rule"),
            severity: s("severity").flatMap(Event.Severity.init), raw: s("raw"))
    }

    static let passkey = try! Passkey("correct horse battery staple 2026")
    static let edge = EdgeID(rawValue: "web-01")!

    static func sampleEvent(_ n: Int = 0) -> Event {
        Event(
            kind: .login, outcome: n % 3 == 0 ? .success : .failure, timeMicroseconds: 1_795_939_815_123_456 + Int64(n),
            host: "web-01", program: "sshd", pid: 4242 + Int64(n), user: "user\(n)", sourceIP: "203.0.113.\(n % 250)",
            sourcePort: 40000 + Int64(n), method: "password", rule: "sshd.failed_password", severity: .medium,
            raw: "2026-11-29T16:10:15.123456+08:00 web-01 sshd[\(4242 + n)]: Failed password for user\(n) from 203.0.113.\(n % 250) port \(40000 + n) ssh2")
    }
}

/// A small deterministic generator (SplitMix64) so property tests are repeatable.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        self = [UInt8](hexString: hex)!
    }
}
