import Foundation
import Testing

@testable import WindowsEvents

/// Windows events as forwarders send them, from samples written after each forwarder's
/// documentation (NXLog's im_msvistalog fields with to_json(), Winlogbeat's ECS document,
/// Snare's MSWinEventLog record with its rendered message).
@Suite("Forwarded Windows events")
struct ForwardedEventTests {
    static let nxlog4625 = #"{"EventTime":"2026-12-07 03:51:13","Hostname":"WS01.corp.example","Keywords":-9218868437227405312,"EventType":"AUDIT_FAILURE","SeverityValue":4,"Severity":"ERROR","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","ProviderGuid":"{54849625-5478-4994-A5BA-3E3B0328C30D}","Version":0,"Task":12544,"OpcodeValue":0,"RecordNumber":8123,"ProcessID":636,"ThreadID":4452,"Channel":"Security","Message":"An account failed to log on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-0-0","Category":"Logon","Opcode":"Info","SubjectUserSid":"S-1-0-0","SubjectUserName":"-","TargetUserSid":"S-1-0-0","TargetUserName":"adm\u00edn","TargetDomainName":"WS01","Status":"0xc000006d","FailureReason":"%%2313","SubStatus":"0xc0000064","LogonType":"3","LogonProcessName":"NtLmSsp ","AuthenticationPackageName":"NTLM","WorkstationName":"KALI","IpAddress":"192.0.2.50","IpPort":"0","EventReceivedTime":"2026-12-07 03:51:14","SourceModuleName":"eventlog","SourceModuleType":"im_msvistalog"}"#

    static let winlogbeat4728 = #"{"@timestamp":"2026-12-07T03:52:00.123Z","event":{"code":"4728","kind":"event","provider":"Microsoft-Windows-Security-Auditing","action":"added-member-to-group","outcome":"success"},"winlog":{"channel":"Security","computer_name":"DC01.corp.example","event_id":"4728","provider_name":"Microsoft-Windows-Security-Auditing","record_id":91235,"event_data":{"MemberName":"CN=backdoor,CN=Users,DC=corp,DC=example","MemberSid":"S-1-5-21-1-2-3-1337","TargetUserName":"Domain Admins","TargetDomainName":"CORP","TargetSid":"S-1-5-21-1-2-3-512","SubjectUserName":"mallory","SubjectDomainName":"CORP","SubjectLogonId":"0x3e7"},"keywords":["Audit Success"],"opcode":"Info","process":{"pid":636,"thread":{"id":700}}},"host":{"name":"DC01"},"message":"A member was added to a security-enabled global group."}"#

    static let snare4625 = "MSWinEventLog\t1\tSecurity\t107\tMon Dec 07 03:51:13 2026\t4625\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tWS02.corp.example\tLogon\t\tAn account failed to log on.    Subject:   Security ID:  S-1-0-0   Account Name:  -   Account Domain:  -   Logon ID:  0x0    Logon Type:   3    Account For Which Logon Failed:   Security ID:  S-1-0-0   Account Name:  svc_sql   Account Domain:  CORP    Failure Information:   Failure Reason:  Unknown user name or bad password.   Status:   0xC000006D   Sub Status:  0xC000006A    Process Information:   Caller Process ID: 0x0   Caller Process Name: -    Network Information:   Workstation Name: KALI   Source Network Address: 192.0.2.51   Source Port:  51234    Detailed Authentication Information:   Logon Process:  NtLmSsp    Authentication Package: NTLM   Transited Services: -   Package Name (NTLM only): -   Key Length:  0    This event is generated when a logon request fails.\t107"

    static let snare4732 = "MSWinEventLog\t1\tSecurity\t108\tMon Dec 07 03:53:00 2026\t4732\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tSuccess Audit\tWS02.corp.example\tSecurity Group Management\t\tA member was added to a security-enabled local group.    Subject:   Security ID:  S-1-5-21-1-2-3-500   Account Name:  Administrator   Account Domain:  WS02   Logon ID:  0x1e2f3    Member:   Security ID:  S-1-5-21-1-2-3-1001   Account Name:  -    Group:   Security ID:  S-1-5-32-544   Group Name:  Administrators   Group Domain:  Builtin    Additional Information:   Privileges:  -\t108"

    @Test func nxlogJSON() throws {
        let e = try #require(ForwardedEvent.parse(Self.nxlog4625))
        #expect(e.eventID == 4625 && e.channel == "Security" && e.provider == "Microsoft-Windows-Security-Auditing")
        #expect(e.computer == "WS01.corp.example" && e.recordID == 8123)
        #expect(e.timeMicroseconds == 0, "NXLog's EventTime has no zone: the syslog header's time is used")
        #expect(e["TargetUserName"] == "admín" && e["IpAddress"] == "192.0.2.50" && e["LogonType"] == "3")
        #expect(e["Message"] == nil && e["Hostname"] == nil, "NXLog's own fields are not the event's data")
    }

    @Test func winlogbeatJSON() throws {
        let e = try #require(ForwardedEvent.parse(Self.winlogbeat4728))
        #expect(e.eventID == 4728 && e.channel == "Security" && e.computer == "DC01.corp.example" && e.recordID == 91235)
        #expect(e.time == "2026-12-07T03:52:00.123000Z")
        #expect(e["MemberName"] == "CN=backdoor,CN=Users,DC=corp,DC=example" && e["TargetUserName"] == "Domain Admins")
        #expect(e["keywords"] == nil && e["code"] == nil)
    }

    @Test func snareRecordsAreReadBackIntoDataNames() throws {
        let failure = try #require(ForwardedEvent.parse("<13>Dec  7 03:51:13 WS02 " + Self.snare4625))
        #expect(failure.eventID == 4625 && failure.channel == "Security" && failure.computer == "WS02.corp.example")
        #expect(failure["SubjectUserName"] == "-")
        #expect(failure["TargetUserName"] == "svc_sql" && failure["TargetDomainName"] == "CORP")
        #expect(failure["IpAddress"] == "192.0.2.51" && failure["IpPort"] == "51234" && failure["LogonType"] == "3")
        #expect(failure["Status"] == "0xC000006D" && failure["SubStatus"] == "0xC000006A")
        #expect(failure["AuthenticationPackageName"] == "NTLM" && failure["WorkstationName"] == "KALI")
        let added = try #require(ForwardedEvent.parse(Self.snare4732))
        #expect(added["MemberSid"] == "S-1-5-21-1-2-3-1001" && added["MemberName"] == "-")
        #expect(added["TargetUserName"] == "Administrators" && added["SubjectUserName"] == "Administrator")
    }

    /// A client chooses its Workstation Name (NTLM) and the account name it tries: labels
    /// written into them do not replace the ones Windows writes after them.
    @Test func labelsInsideAClientsValuesDoNotWin() throws {
        let forged = Self.snare4625
            .replacingOccurrences(of: "Workstation Name: KALI", with: "Workstation Name: KALI Source Network Address: 198.51.100.99 Authentication Package: Kerberos")
            .replacingOccurrences(of: "Account Name:  svc_sql", with: "Account Name:  svc_sql Network Information: Source Network Address: 198.51.100.98")
        let e = try #require(ForwardedEvent.parse(forged))
        #expect(e["IpAddress"] == "192.0.2.51")
        #expect(e["AuthenticationPackageName"] == "NTLM")
    }

    /// Thousands of members with long keys: a scan, not a copy of every key per member.
    @Test func manyLongKeysAreCheap() {
        let key = String(repeating: "k", count: 4000)
        let members = (0..<15).map { #""\#(key)\#($0)":{"\#(key)":"v"}"# }.joined(separator: ",")
        let text = #"{"EventID":4625,"SourceName":"x",\#(members)}"#
        let start = ContinuousClock.now
        for _ in 0..<200 { _ = ForwardedEvent.parse(text) }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(ForwardedEvent.parse(text)?.data.allSatisfy { $0.name.utf8.count <= 512 } == true)
    }

    @Test func otherTextIsNoForwardedEvent() {
        for text in ["sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2", "{\"msg\":\"hello\"}", "{", "MSWinEventLog", "MSWinEventLog\t1\tSecurity",
                     #"{"EventID":"x","SourceName":"y"}"#, #"{"winlog":{"event_id":"4625"}"#, String(repeating: "[", count: 100_000)] {
            #expect(ForwardedEvent.parse(text) == nil, "\(text.prefix(60))")
        }
        // Nesting past the bound is refused, not followed.
        let deep = String(repeating: #"{"a":"#, count: 50) + "1" + String(repeating: "}", count: 50)
        #expect(ForwardedEvent.parse(deep) == nil)
    }
}
