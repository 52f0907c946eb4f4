import Foundation
import Wire
import WindowsEvents

/// Turns Windows events into events of the shared vocabulary with the Windows rules of a
/// rule set. The same for an EVTX file, event XML, a live subscription and the relay's
/// forwarded formats.
///
/// It remembers account names by SID from the events that give both (4720 and the other
/// account events name the account and its SID), so a later 4732 that gives only the member's
/// SID (local groups do) names the account as 4720 did, and "created, then made
/// administrator" can be seen. At most `maxKnownAccounts` are remembered.
package struct WindowsDetector: Sendable {
    package let rules: RuleSet
    private let byEventID: [UInt32: [Int]]
    private var accounts: [String: String] = [:]

    package static let maxKnownAccounts = 4096

    package init(rules: RuleSet = .builtin) {
        self.rules = rules
        var index: [UInt32: [Int]] = [:]
        for (i, rule) in rules.windowsRules.enumerated() {
            for id in rule.eventIDs { index[id, default: []].append(i) }
        }
        byEventID = index
    }

    /// The event the first applicable rule makes, if any; account names by SID are learnt.
    package mutating func detect(_ windowsEvent: WindowsEvent) -> Event? {
        learnAccount(windowsEvent)
        return match(windowsEvent)
    }

    /// The event the first applicable rule makes, without learning (the relay's forwarded
    /// events come from many hosts at once).
    package func match(_ windowsEvent: WindowsEvent) -> Event? {
        guard let candidates = byEventID[windowsEvent.eventID] else { return nil }
        for i in candidates {
            let rule = rules.windowsRules[i]
            if rule.applies(to: windowsEvent) { return makeEvent(rule, windowsEvent) }
        }
        return nil
    }

    private mutating func learnAccount(_ e: WindowsEvent) {
        guard let sid = e["TargetSid"], sid.hasPrefix("S-1-5-21-"), let name = Self.present(e["TargetUserName"] ?? e["SamAccountName"]) else { return }
        // Group events name the group in TargetUserName: only account events teach names.
        guard (4720...4726).contains(e.eventID) || e.eventID == 4738 || e.eventID == 4740 || e.eventID == 4767 else { return }
        if accounts.count >= Self.maxKnownAccounts, accounts[sid] == nil { accounts.removeAll(keepingCapacity: true) }
        accounts[sid] = name
    }

    /// A value that says something: not empty, not Windows' `-` for "none".
    static func present(_ value: String?) -> String? {
        guard let v = value?.trimmingCharacters(in: [" "]), !v.isEmpty, v != "-" else { return nil }
        return v
    }

    func makeEvent(_ rule: WindowsRule, _ e: WindowsEvent) -> Event {
        func field(_ name: String) -> String? {
            for source in rule.map[name] ?? [] {
                // `UserID`: the SID in System/Security, when the data have no such value.
                if let v = Self.present(e[source] ?? (source == "UserID" ? e.userID : nil)) { return v }
            }
            return rule.set[name]
        }
        var event = Event(
            kind: rule.kind, outcome: rule.outcome, timeMicroseconds: e.timeMicroseconds, host: Self.present(e.computer),
            program: Self.present(e.provider), rule: rule.id, severity: rule.severity, raw: Self.raw(e))
        event.user = field("user").map(Self.accountName).map(Self.clipped)
        event.targetUser = field("target_user").map { value in
            // A member given only by SID: the name an account event gave it, if one did.
            if value.hasPrefix("S-1-"), let known = accounts[value] { return known }
            return Self.clipped(Self.accountName(value))
        }
        event.group = field("group").map(Self.clipped)
        if let ip = field("source_ip").flatMap(Self.address) { event.sourceIP = ip }
        if event.sourceIP != nil, let port = field("source_port").flatMap({ Int64($0) }), (1...65535).contains(port) { event.sourcePort = port }
        event.method = field("method").map(Self.clipped)
        event.logonType = field("logon_type").flatMap { Int64($0) }
        return event
    }

    /// The most a name field carries (Windows account and group names are far shorter; a
    /// value past it is cut on a character boundary, so no event is refused for its size).
    package static let maxFieldBytes = 512

    static func clipped(_ value: String) -> String {
        guard value.utf8.count > maxFieldBytes else { return value }
        var cut = maxFieldBytes
        let utf8 = Array(value.utf8)
        while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
        return String(decoding: utf8[..<cut], as: UTF8.self)
    }

    /// A member's distinguished name (`CN=bob,CN=Users,DC=corp,DC=example`) as its common
    /// name; other names as they are.
    static func accountName(_ value: String) -> String {
        guard value.count > 3, value.prefix(3).lowercased() == "cn=" else { return value }
        var name = ""
        var escaped = false
        for c in value.dropFirst(3) {
            if escaped {
                name.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "," {
                break
            } else {
                name.append(c)
            }
        }
        return name.isEmpty ? value : name
    }

    /// An IPv4 or IPv6 address, as the syslog rules take them (`-`, a host name: nil).
    static func address(_ value: String) -> String? {
        var v = value
        return v.withUTF8 { Detector.isAddress($0) } ? v : nil
    }

    /// The record as a line, with NTSTATUS codes explained: what `raw` carries for Windows
    /// events (their XML is not kept).
    static func raw(_ e: WindowsEvent) -> String {
        var text = "\(e.channel) \(e.eventID) \(e.provider)"
        if e.recordID > 0 { text += " record=\(e.recordID)" }
        for field in e.data {
            text += " \(field.name)=\(field.value)"
            if field.name == "Status" || field.name == "SubStatus" || field.name == "FailureReason",
               let words = NTStatus.explain(field.value) {
                text += " (\(words))"
            }
            if text.utf8.count > Event.maxRawBytes { break }
        }
        return text
    }
}

/// Words for the NTSTATUS codes of failed logons (4625, 4776, 4771), from Microsoft's
/// documentation of event 4625.
package enum NTStatus {
    package static func explain(_ code: String) -> String? {
        switch code.lowercased() {
        case "0xc000005e": "no logon servers available"
        case "0xc0000064": "user name does not exist"
        case "0xc000006a": "user name correct, password wrong"
        case "0xc000006d": "bad user name or password"
        case "0xc000006e": "account restriction"
        case "0xc000006f": "logon outside allowed hours"
        case "0xc0000070": "logon from a workstation not allowed"
        case "0xc0000071": "password expired"
        case "0xc0000072": "account disabled"
        case "0xc00000dc": "server in the wrong state"
        case "0xc0000133": "clocks too far apart"
        case "0xc000015b": "logon type not granted"
        case "0xc000018c": "trust relationship failed"
        case "0xc0000192": "Netlogon service not started"
        case "0xc0000193": "account expired"
        case "0xc0000224": "password must change at next logon"
        case "0xc0000225": "Windows bug, not a risk"
        case "0xc0000234": "account locked out"
        case "0xc00002ee": "an error occurred during logon"
        case "0xc0000413": "authentication firewall: not allowed to authenticate to this machine"
        case "0x0": "success"
        case "%%2313": "unknown user name or bad password"
        case "%%2307": "account locked out"
        case "%%2310": "account disabled"
        case "%%2305": "account expired"
        case "%%2309": "password expired"
        case "%%2311": "logon from a workstation not allowed"
        case "%%2312": "logon outside allowed hours"
        case "%%2308": "logon type not granted"
        default: nil
        }
    }
}
