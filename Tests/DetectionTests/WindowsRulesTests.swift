import Foundation
import Testing
import WindowsEvents
import Wire

@testable import Detection

/// A detector the expectation macros can call (they cannot capture a `var`).
final class Detecting {
    var detector: WindowsDetector
    init(rules: RuleSet = .builtin) { detector = WindowsDetector(rules: rules) }
    func detect(_ e: WindowsEvent) -> Event? { detector.detect(e) }
}

@Suite("Windows rules")
struct WindowsRulesTests {
    static func event(_ id: UInt32, channel: String = "Security", provider: String = "Microsoft-Windows-Security-Auditing", _ data: [String: String], userID: String = "") -> WindowsEvent {
        WindowsEvent(
            recordID: 1, eventID: id, channel: channel, provider: provider, computer: "WS01.corp.example", timeMicroseconds: 1_800_000_000_000_000,
            userID: userID, data: data.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
    }

    @Test func failedLogonIsAnAttemptWithItsSourceAndStatusInWords() throws {
        let detector = Detecting()
        let e = try #require(detector.detect(Self.event(4625, [
            "TargetUserName": "administrator", "IpAddress": "192.0.2.9", "IpPort": "50123", "LogonType": "3",
            "AuthenticationPackageName": "NTLM", "Status": "0xc000006d", "SubStatus": "0xC0000064", "WorkstationName": "KALI",
        ])))
        #expect(e.kind == .login && e.outcome == .failure)
        #expect(e.user == "administrator")
        #expect(e.sourceIP == "192.0.2.9" && e.sourcePort == 50123)
        #expect(e.method == "NTLM" && e.logonType == 3)
        #expect(e.host == "WS01.corp.example" && e.program == "Microsoft-Windows-Security-Auditing")
        #expect(e.rule == "windows.logon.failed")
        #expect(e.raw?.contains("Status=0xc000006d (bad user name or password)") == true)
        #expect(e.raw?.contains("SubStatus=0xC0000064 (user name does not exist)") == true)
        // No address (a local console failure): no source, still an attempt with a method.
        let local = try #require(detector.detect(Self.event(4625, ["TargetUserName": "bob", "IpAddress": "-", "IpPort": "-", "LogonType": "2"])))
        #expect(local.sourceIP == nil && local.sourcePort == nil && local.method == "password")
    }

    @Test func successfulLogonsOfMachinesServicesAndTheSystemAreLeftOut() {
        let detector = Detecting()
        let person = detector.detect(Self.event(4624, ["TargetUserName": "alice", "LogonType": "10", "IpAddress": "2001:db8::5", "IpPort": "0"]))
        #expect(person?.kind == .login && person?.outcome == .success && person?.user == "alice" && person?.logonType == 10)
        #expect(person?.sourceIP == "2001:db8::5" && person?.sourcePort == nil)
        for (user, type) in [("WS01$", "3"), ("ANONYMOUS LOGON", "3"), ("SYSTEM", "2"), ("svc_backup", "5"), ("batch", "4"), ("DWM-1", "2"), ("umfd-0", "2")] {
            #expect(detector.detect(Self.event(4624, ["TargetUserName": user, "LogonType": type])) == nil, "\(user) \(type)")
        }
    }

    /// A local account created, then added to Administrators by SID only (4732 on a member
    /// server names no member): the detector names it from 4720, so the relay's
    /// created-then-administrator rule can join them.
    @Test func aMemberGivenOnlyBySIDIsNamedFromTheAccountEvent() throws {
        let detector = Detecting()
        let sid = "S-1-5-21-2603537626-3982775912-406486804-1000"
        let created = try #require(detector.detect(Self.event(4720, ["TargetUserName": "fsir", "TargetSid": sid, "SubjectUserName": "admin"])))
        #expect(created.kind == .accountCreated && created.targetUser == "fsir" && created.user == "admin")
        let added = try #require(detector.detect(Self.event(4732, ["MemberName": "-", "MemberSid": sid, "TargetUserName": "Administrators", "SubjectUserName": "admin"])))
        #expect(added.kind == .groupMemberAdded && added.targetUser == "fsir" && added.group == "Administrators")
        let domain = try #require(detector.detect(Self.event(4728, [
            "MemberName": #"CN=Eve\, Ops,OU=Staff,DC=corp,DC=example"#, "MemberSid": "S-1-5-21-1-2-3-1104", "TargetUserName": "Domain Admins",
        ])))
        #expect(domain.targetUser == "Eve, Ops" && domain.group == "Domain Admins")
        let unknown = try #require(Detecting().detect(Self.event(4733, ["MemberName": "-", "MemberSid": "S-1-5-21-9-9-9-1200", "TargetUserName": "Users"])))
        #expect(unknown.kind == .groupMemberRemoved && unknown.targetUser == "S-1-5-21-9-9-9-1200")
    }

    @Test func clearedLogsServicesAndTasks() throws {
        let detector = Detecting()
        let security = try #require(detector.detect(Self.event(1102, provider: "Microsoft-Windows-Eventlog", ["SubjectUserName": "mallory"])))
        #expect(security.kind == .auditCleared && security.user == "mallory" && security.severity == .critical)
        let system = try #require(detector.detect(Self.event(104, channel: "System", provider: "Microsoft-Windows-Eventlog", ["SubjectUserName": "tony", "Channel": "Security"])))
        #expect(system.kind == .auditCleared && system.user == "tony")
        // 104 of another provider (RDP's "TimezoneBiasHour") is not a cleared log.
        #expect(detector.detect(Self.event(104, channel: "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational", provider: "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS", [:])) == nil)
        let service = try #require(detector.detect(Self.event(7045, channel: "System", provider: "Service Control Manager",
            ["ServiceName": "PSEXESVC", "ImagePath": #"%SystemRoot%\PSEXESVC.exe"#], userID: "S-1-5-21-1-2-3-500")))
        #expect(service.kind == .serviceInstalled && service.user == "S-1-5-21-1-2-3-500" && service.raw?.contains("ServiceName=PSEXESVC") == true)
        #expect(detector.detect(Self.event(4698, ["SubjectUserName": "Administrator", "TaskName": #"\evil"#]))?.kind == .taskCreated)
    }

    /// Users add and change Windows rules in the same files, with the same checks.
    @Test func rulesFromAFileAddReplaceAndReportMistakes() throws {
        let yaml = """
            rules:
            - id: windows.logon
              event_id: 4624
              channel: security
              where: {LogonType: [5]}
              kind: login
              outcome: success
              severity: high
              map: {user: [TargetUserName]}
            - id: site.rdp
              event_id: [1149]
              provider: Microsoft-Windows-TerminalServices-RemoteConnectionManager
              kind: login
              outcome: success
              map: {user: [Param1], source_ip: [Param3]}
            """
        let set = RuleSet.builtin.applying(try RuleLoader.overrides(yaml, origin: "site.yaml"))
        let detector = Detecting(rules: set)
        #expect(detector.detect(Self.event(4624, ["TargetUserName": "svc", "LogonType": "5"]))?.severity == .high)
        #expect(detector.detect(Self.event(4624, ["TargetUserName": "alice", "LogonType": "10"])) == nil)
        let rdp = detector.detect(Self.event(1149, channel: "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
            provider: "Microsoft-Windows-TerminalServices-RemoteConnectionManager", ["Param1": "bob", "Param3": "198.51.100.4"]))
        #expect(rdp?.user == "bob" && rdp?.sourceIP == "198.51.100.4" && rdp?.rule == "site.rdp")
        #expect(set.rules.count == RuleSet.builtin.rules.count)

        let bad = """
            rules:
            - id: a
              event_id: [4625, x]
              kind: login
            - id: b
              event_id: 4625
              pattern: "x"
              programs: [sshd]
              kind: nonsense
              map: {colour: [X]}
            - id: c
              programs: [sshd]
              pattern: "x"
              kind: login
              where: {X: [y]}
            """
        #expect {
            _ = try RuleLoader.overrides(bad, origin: "bad.yaml")
        } throws: { error in
            let text = "\(error)"
            return text.contains("rules[0] (a): event_id must be a number") && text.contains("rules[1] (b): a Windows rule (event_id) has no programs or pattern")
                && text.contains("kind nonsense is not in the vocabulary") && text.contains("colour is not a field")
                && text.contains("rules[2] (c): where and unless are for Windows rules")
        }
    }

    /// Forwarded Windows events are read where forwarders send them (the relay's plain
    /// syslog, `edge test-rules`), not from the edge's own log files: a local user who can
    /// write to syslog must not make the edge vouch for "audit log cleared on DC01".
    @Test func forwardedEventsOnlyWhereForwardersSendThem() {
        let line = #"<13>Dec  7 10:00:00 edge1 bob: {"winlog":{"event_id":1102,"channel":"Security","computer_name":"DC01","provider_name":"Microsoft-Windows-Eventlog","event_data":{"SubjectUserName":"mallory"}}}"#
        let parser = SyslogParser(maxMessageBytes: 1 << 20)
        var bytes = Array(line.utf8)
        let edge = bytes.withUnsafeMutableBufferPointer { Detector().detectOne(buffer: UnsafeBufferPointer($0), parser: parser) }
        #expect(edge == nil)
        var relay = Detector()
        relay.readsForwardedWindowsEvents = true
        let event = bytes.withUnsafeMutableBufferPointer { relay.detectOne(buffer: UnsafeBufferPointer($0), parser: parser) }?.0
        #expect(event?.kind == .auditCleared && event?.host == "DC01" && event?.user == "mallory")
    }

    /// A 69,000-byte account name (the relay refuses fields over 64 KiB, and with them the
    /// whole frame of genuine events) is cut to `maxFieldBytes` on a character boundary.
    @Test func longNamesAreCut() throws {
        let detector = Detecting()
        let e = try #require(detector.detect(Self.event(4625, ["TargetUserName": String(repeating: "€", count: 23_000), "IpAddress": "192.0.2.1"])))
        let user = try #require(e.user)
        #expect(user.utf8.count <= WindowsDetector.maxFieldBytes && user.utf8.count > WindowsDetector.maxFieldBytes - 3)
        #expect(user.allSatisfy { $0 == "€" })
    }

    static let evtx = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx").standardizedFileURL

    /// The attack samples: every Security and System record of the IDs the rules cover fires,
    /// except those the rules leave out on purpose (machine, service and system logons).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: evtx.path), "../shared/testdata/evtx is absent"))
    func theRulesFireOnTheAttackSamples() async throws {
        let covered: Set<UInt32> = [4624, 4625, 4634, 4647, 4648, 4672, 4720, 4722, 4723, 4724, 4725, 4726, 4738, 4728, 4732, 4756,
                                    4729, 4733, 4757, 4740, 4767, 1102, 4697, 4698, 104, 7045]
        var kinds: [String: Int] = [:]
        var leftOut: [String: Int] = [:]
        var unexplained: [String] = []
        let files = FileManager.default.enumerator(atPath: Self.evtx.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".evtx") }.sorted()
        for file in files {
            let detector = Detecting()
            try EvtxFile(path: Self.evtx.appendingPathComponent(file).path).forEachEvent { record in
                let event = detector.detect(record)
                if let event { kinds[event.kind.rawValue, default: 0] += 1 }
                guard covered.contains(record.eventID), record.channel == "Security" || record.channel == "System", event == nil else { return }
                if let reason = Self.leftOutOnPurpose(record) {
                    leftOut[reason, default: 0] += 1
                } else if !(record.eventID == 104 && record.provider != "Microsoft-Windows-Eventlog") {
                    unexplained.append("\(file) #\(record.recordID) \(record.eventID)")
                }
            }
            await Task.yield()
        }
        print("Windows rules on the EVTX samples: \(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        print("left out on purpose: \(leftOut.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        #expect(unexplained.isEmpty, "\(unexplained.prefix(20))")
        for kind in ["login", "logout", "privilege", "account.created", "account.enabled", "password.changed", "account.changed",
                     "group.member_added", "group.member_removed", "audit.cleared", "service.installed", "task.created"] {
            #expect((kinds[kind] ?? 0) > 0, "\(kind)")
        }
    }

    static func leftOutOnPurpose(_ r: WindowsEvent) -> String? {
        let user = (r["TargetUserName"] ?? r["SubjectUserName"] ?? "").uppercased()
        if [4624, 4634, 4647].contains(r.eventID) {
            if ["0", "4", "5"].contains(r["LogonType"] ?? "") { return "logon type \(r["LogonType"]!)" }
            if user.hasSuffix("$") { return "machine account" }
            if ["ANONYMOUS LOGON", "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE"].contains(user) { return user.lowercased() }
            if user.hasPrefix("DWM-") || user.hasPrefix("UMFD-") { return "window manager" }
        }
        if r.eventID == 4672 {
            if ["S-1-5-18", "S-1-5-19", "S-1-5-20"].contains(r["SubjectUserSid"] ?? "") { return "4672 of the system's accounts" }
            let subject = (r["SubjectUserName"] ?? "").uppercased()
            if subject.hasSuffix("$") || subject.hasPrefix("DWM-") || subject.hasPrefix("UMFD-") { return "4672 of machine or window manager" }
        }
        if r.eventID == 4648, user.hasSuffix("$") || user == "ANONYMOUS LOGON" { return "4648 for a machine account" }
        return nil
    }
}
