import Foundation
import Testing
import TestSupport

/// Windows events from the forwarders Windows shops run (NXLog, Winlogbeat, Snare), sent as
/// syslog to the real relay binary: recognised without configuration, through the Windows
/// rules, into the same incidents as everything else.
@Suite("Windows forwarders at the relay")
struct WindowsForwardedTests {
    static var binaryBuilt: Bool { FileManager.default.isExecutableFile(atPath: RelayProcess.binary) }

    static func now(_ offsetSeconds: Int = 0) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date().addingTimeInterval(Double(offsetSeconds)))
    }

    @Test(.enabled(if: binaryBuilt, "build the relay first"))
    func sprayCreatedAdministratorAndClearedLogBecomeIncidents() async throws {
        let relay = try RelayProcess()
        defer { relay.kill9() }
        #expect(await relay.waitUntilReady())

        // NXLog: a password spray from one address across six accounts.
        let spray = ["alice", "bob", "carol", "dave", "erin", "frank"].enumerated().map { n, user in
            #"<14>1 \#(Self.now()) WS01.corp.example Microsoft-Windows-Security-Auditing 636 - - {"EventTime":"2026-12-07 03:51:1\#(n)","Hostname":"WS01.corp.example","EventType":"AUDIT_FAILURE","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","RecordNumber":\#(8000 + n),"Channel":"Security","Category":"Logon","TargetUserName":"\#(user)","TargetDomainName":"CORP","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":"3","AuthenticationPackageName":"NTLM","WorkstationName":"KALI","IpAddress":"192.0.2.60","IpPort":"0","SourceModuleType":"im_msvistalog"}"#
        }
        // Winlogbeat (ECS JSON passed on by a shipper): an account created, then made a
        // Domain Admin.
        let created = #"<14>1 \#(Self.now()) logstash winlogbeat - - - {"@timestamp":"\#(Self.now())","winlog":{"channel":"Security","computer_name":"DC01.corp.example","event_id":"4720","provider_name":"Microsoft-Windows-Security-Auditing","record_id":91234,"event_data":{"TargetUserName":"backdoor","TargetDomainName":"CORP","TargetSid":"S-1-5-21-1-2-3-1337","SubjectUserName":"mallory","SamAccountName":"backdoor"}},"host":{"name":"DC01"}}"#
        let admin = #"<14>1 \#(Self.now(1)) logstash winlogbeat - - - {"@timestamp":"\#(Self.now(1))","winlog":{"channel":"Security","computer_name":"DC01.corp.example","event_id":"4728","provider_name":"Microsoft-Windows-Security-Auditing","record_id":91235,"event_data":{"MemberName":"CN=backdoor,CN=Users,DC=corp,DC=example","MemberSid":"S-1-5-21-1-2-3-1337","TargetUserName":"Domain Admins","TargetDomainName":"CORP","SubjectUserName":"mallory"}},"host":{"name":"DC01"}}"#
        // Snare: the Security log cleared.
        let cleared = "<13>Dec  7 03:55:00 WS02 MSWinEventLog\t1\tSecurity\t109\tMon Dec 07 03:55:00 2026\t1102\tMicrosoft-Windows-Eventlog\tN/A\tN/A\tSuccess Audit\tWS02.corp.example\tLog clear\t\tThe audit log was cleared.    Subject:   Security ID:  S-1-5-21-1-2-3-500   Account Name:  mallory   Domain Name:  CORP   Logon ID:  0x1e2f3\t109"
        try await Send.udp((spray + [created, admin, cleared]).map { Array($0.utf8) }, port: relay.udpPort)

        func alerts() async -> String { (try? await relay.command(["alerts", "--json"]))?.output ?? "" }
        let all = await RunningRelay.waitUntilAsync(timeout: .seconds(30)) {
            let json = await alerts()
            return json.contains("brute_force") && json.contains("account.created_then_admin") && json.contains("audit.cleared")
        }
        let json = await alerts()
        #expect(all, "alerts: \(json.suffix(3000)), relay printed: \(relay.printed.suffix(2000))")
        let incidents = json.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let spray6 = incidents.filter { $0["kind"] as? String == "brute_force" }
        #expect(spray6.count == 1, "one incident for the spray: \(spray6)")
        #expect(spray6.first?["source_ip"] as? String == "192.0.2.60")
        #expect(spray6.first?["host"] as? String == "WS01.corp.example")
        let critical = incidents.first { $0["kind"] as? String == "account.created_then_admin" }
        #expect(critical?["severity"] as? String == "critical")
        #expect(critical?["host"] as? String == "DC01.corp.example")
        let cleared1102 = incidents.first { $0["kind"] as? String == "audit.cleared" }
        #expect(cleared1102?["user"] as? String == "mallory" && cleared1102?["host"] as? String == "WS02.corp.example")
        _ = await relay.stop()
    }
}
