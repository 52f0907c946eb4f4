import Foundation
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `2001:db8::/32`) or one address.
package struct IPRange: Sendable, Hashable, CustomStringConvertible {
    let network: [UInt8]
    let prefix: Int
    package let description: String

    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = IPRange.bytes(String(first)) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...bits).contains(p) else { return nil }
            prefix = p
        }
        network = IPRange.masked(address, prefix)
        self.prefix = prefix
        description = text
    }

    package func contains(_ address: String) -> Bool {
        guard let bytes = IPRange.bytes(address) else { return false }
        // An IPv4 address written as IPv6 (::ffff:10.0.0.1, as dual-stack sockets report it).
        let candidate = network.count == 4 && bytes.count == 16 && bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] ? Array(bytes[12...]) : bytes
        guard candidate.count == network.count else { return false }
        return IPRange.masked(candidate, prefix) == network
    }

    /// The address's bytes (4 or 16), or nil when it is not an IP address.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        // A zone index (fe80::1%eth0) is not part of the address.
        let bare = text.split(separator: "%").first.map(String.init) ?? text
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let keep = max(0, min(8, prefix - i * 8))
            return keep == 8 ? b : b & ~(UInt8(0xFF) >> keep)
        }
    }
}

/// Events that are expected and must not become incidents: known administrators' sources,
/// maintenance windows. An entry matches when every condition it gives holds. Allowed
/// events are still stored; they are counted, not correlated.
package struct Allowance: Sendable, Hashable {
    package var sources: [IPRange] = []
    package var users: Set<String> = []
    package var hosts: Set<String> = []
    package var kinds: Set<String> = []
    /// Correlation rule ids this entry silences; empty means all.
    package var rules: Set<String> = []
    /// ISO weekdays, 1 = Monday ... 7 = Sunday; empty means every day.
    package var weekdays: Set<Int> = []
    /// Minutes after local midnight, [from, to); to < from wraps past midnight.
    package var fromMinute: Int?
    package var toMinute: Int?
    /// Why (shown by `relay check-config` and in logs).
    package var reason: String?

    package init() {}

    func matches(_ e: Event, rule: String, time: Int64, calendar: Calendar) -> Bool {
        if !rules.isEmpty, !rules.contains(rule) { return false }
        if !kinds.isEmpty, !kinds.contains(e.kind.rawValue) { return false }
        if !users.isEmpty, !(e.user.map(users.contains) ?? false) { return false }
        if !hosts.isEmpty, !(e.host.map(hosts.contains) ?? false) { return false }
        if !sources.isEmpty {
            guard let ip = e.sourceIP, sources.contains(where: { $0.contains(ip) }) else { return false }
        }
        if !weekdays.isEmpty || fromMinute != nil {
            let date = Date(timeIntervalSince1970: Double(time) / 1e6)
            let c = calendar.dateComponents([.weekday, .hour, .minute], from: date)
            if !weekdays.isEmpty {
                // Calendar: 1 = Sunday ... 7 = Saturday.
                let iso = ((c.weekday ?? 1) + 5) % 7 + 1
                if !weekdays.contains(iso) { return false }
            }
            if let from = fromMinute, let to = toMinute {
                let minute = (c.hour ?? 0) * 60 + (c.minute ?? 0)
                let inside = from <= to ? (from <= minute && minute < to) : (minute >= from || minute < to)
                if !inside { return false }
            }
        }
        return true
    }
}
