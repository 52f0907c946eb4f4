import Foundation
import Testing
import Wire

@testable import Detection

@Suite("Patterns and rules")
struct RuleTests {
    let detector = Detector()

    func detect(_ program: String, _ message: String) -> [Event] {
        detector.detect(program: program, pid: 1, host: "h", timeMicroseconds: 0, message: message, raw: message)
    }

    @Test func patternCapturesTypedFields() throws {
        let p = try Pattern("Failed password for {user} from {source_ip} port {source_port} ssh2{_}")
        #expect(p.match(Array("Failed password for root from 203.0.113.9 port 22 ssh2".utf8)) == ["user": "root", "source_ip": "203.0.113.9", "source_port": "22"])
        #expect(p.match(Array("Failed password for root from 203.0.113.9 port 22 ssh2: RSA SHA256:x".utf8))?["user"] == "root")
        #expect(p.match(Array("Failed password for root from 203.0.113.9 port x22 ssh2".utf8)) == nil)
        #expect(p.match(Array("Accepted password for root".utf8)) == nil)
    }

    /// A user name crafted to look like the rest of the line cannot move the source address.
    @Test func hostileUserNameCannotSpoofTheSource() {
        let events = detect("sshd", "Failed password for invalid user a from 6.6.6.6 port 7 ssh2 from 203.0.113.9 port 22 ssh2")
        #expect(events.count == 1)
        #expect(events.first?.user == "a from 6.6.6.6 port 7 ssh2")
        #expect(events.first?.sourceIP == "203.0.113.9")
        #expect(events.first?.sourcePort == 22)
    }

    @Test func patternErrors() {
        #expect(throws: PatternError.self) { try Pattern("a {unclosed") }
        #expect(throws: PatternError.self) { try Pattern("{a}{b}") }
        #expect(throws: PatternError.self) { try Pattern("{x:float}") }
        #expect(throws: PatternError.self) { try Pattern("{bad-name}") }
    }

    @Test func programNamesNormalised() {
        #expect(detect("/usr/sbin/sshd", "Accepted publickey for bob from 192.0.2.7 port 5 ssh2: ED25519 SHA256:abc").first?.method == "publickey")
        // `Failed none` is sshd's probe, an event but not an attempt: no method.
        #expect(detect("sshd-session", "Failed none for invalid user x from 192.0.2.7 port 5 ssh2").first.map { $0.method == nil && $0.user == "x" } == true)
        #expect(detect("cron", "Failed password for root from 192.0.2.7 port 5 ssh2").isEmpty)
    }

    @Test func keyboardInteractiveAndRootRefused() {
        let ki = detect("sshd", "Accepted keyboard-interactive/pam for alice from 192.0.2.7 port 5 ssh2")
        #expect(ki.first?.method == "keyboard-interactive" && ki.first?.outcome == .success)
        let refused = detect("sshd", "ROOT LOGIN REFUSED FROM 192.0.2.7 port 5")
        #expect(refused.first?.user == "root" && refused.first?.outcome == .failure)
        let deny = detect("sshd", "User bob from 192.0.2.7 not allowed because listed in DenyUsers")
        #expect(deny.first?.user == "bob" && deny.first?.rule == "sshd.not_allowed.deny_users")
        // The reverse-DNS warning comes before successful logins too: no event by default
        // (deploy/rules/scan.yaml has it).
        let breakin = detect("sshd", "Address 192.0.2.7 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!")
        #expect(breakin.isEmpty)
    }

    /// "message repeated N times" is one event with `count` N (it was N events: 1,000 events
    /// and 650 KB of memory for one line anyone can write).
    @Test func repeatedMessagesAreOneEventWithACount() {
        let events = detect("sshd", "message repeated 3 times: [ Failed password for root from 192.0.2.7 port 5 ssh2]")
        #expect(events.count == 1)
        #expect(events.first?.count == 3 && events.first?.occurrences == 3)
        #expect(events.allSatisfy { $0.user == "root" && $0.method == "password" })
        let huge = detect("sshd", "message repeated 99999999999999999999 times: [ Failed password for root from 192.0.2.7 port 5 ssh2]")
        #expect(huge.count == 1 && huge.first?.count == Event.maxCount)
        #expect(detect("sshd", "Failed password for root from 192.0.2.7 port 5 ssh2").first?.count == nil)
        #expect(detect("sshd", "message repeated x times: [ Failed password for root from 192.0.2.7 port 5 ssh2]").isEmpty)
    }

    /// PAM failures from any service are login failures; with a remote host they are
    /// attempts from it. Without one (a console, a display manager, polkit) they are events
    /// without a source (the catalogue, PAM-01/02): no brute force counts them by source.
    @Test func pamFailuresFromOtherServices() {
        let remote = detect("vsftpd", "pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=192.0.2.7  user=alice")
        #expect(remote.first?.kind == .login && remote.first?.sourceIP == "192.0.2.7" && remote.first?.user == "alice" && remote.first?.method == "pam")
        let local = detect("polkitd", "pam_unix(polkit-1:auth): authentication failure; logname= uid=1000 euid=0 tty= ruser=alice rhost=  user=root")
        #expect(local.count == 1 && local.first?.kind == .login && local.first?.user == "root" && local.first?.sourceIP == nil)
    }

    @Test func systemdLogind() {
        #expect(detect("systemd-logind", "New session 3 of user root.").first?.kind == .login)
        #expect(detect("systemd-logind", "Removed session 3.").first?.kind == .logout)
    }

    @Test func rulesFromYAMLOverrideAddAndDisable() throws {
        let yaml = """
            rules:
              - id: custom.vpn_login
                programs: [openvpn]
                pattern: "{source_ip}:{source_port} [{user}] Peer Connection Initiated{_}"
                kind: login
                outcome: success
                severity: medium
                set: {method: certificate}
              - id: sshd.accepted
                programs: [sshd]
                pattern: "Accepted {method} for {user} from {source_ip} port {source_port} ssh2{_}"
                kind: login
                outcome: success
                severity: high
              - id: su.success
                disabled: true
            """
        let set = RuleSet.builtin.applying(try RuleLoader.overrides(yaml, origin: "local.yaml"))
        let d = Detector(rules: set)
        let vpn = d.detect(program: "openvpn", pid: nil, host: nil, timeMicroseconds: nil, message: "192.0.2.7:1194 [alice] Peer Connection Initiated with [AF_INET]", raw: "")
        #expect(vpn.first?.user == "alice" && vpn.first?.method == "certificate" && vpn.first?.sourcePort == 1194)
        #expect(d.detect(program: "sshd", pid: nil, host: nil, timeMicroseconds: nil, message: "Accepted password for a from 192.0.2.7 port 1 ssh2", raw: "").first?.severity == .high)
        #expect(d.detect(program: "su", pid: nil, host: nil, timeMicroseconds: nil, message: "(to root) alice on pts/0", raw: "").isEmpty)
        #expect(set.rules.count == RuleSet.builtin.rules.count)  // one added, one removed
    }

    /// Every mistake in a rule file is reported at once, each with its location.
    @Test func ruleFileMistakesAllReported() {
        let yaml = """
            rules:
              - id: a
                programs: [x]
                pattern: "oops {unclosed"
                kind: login
              - id: b
                programs: [x]
                pattern: "{user} did it"
                kind: not.a.kind
                outcome: maybe
                severity: extreme
                set: {colour: blue}
                require: [nothing]
              - programs: [x]
            """
        do {
            _ = try RuleLoader.overrides(yaml, origin: "bad.yaml")
            Issue.record("no error")
        } catch let problems as RuleLoader.Problems {
            let text = problems.description
            #expect(text.contains("bad.yaml: rules[0] (a): pattern"))
            #expect(text.contains("rules[1] (b): kind not.a.kind"))
            #expect(text.contains("rules[1] (b): outcome"))
            #expect(text.contains("rules[1] (b): severity"))
            #expect(text.contains("rules[1] (b): colour"))
            #expect(text.contains("rules[1] (b): require names nothing"))
            #expect(text.contains("rules[2]: id is missing"))
            #expect(problems.messages.count == 7)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func builtinRulesLoadAndCoverTheVocabulary() {
        let kinds = Set(RuleSet.builtin.rules.map(\.kind))
        // No Linux program logs an unlock to syslog (`faillock --reset` writes only an audit
        // record): account.unlocked comes from Windows. `usermod -L/-U` is disabled/enabled.
        for k: Event.Kind in [.login, .logout, .privilege, .accountCreated, .accountDeleted, .accountChanged, .accountLocked,
                              .accountDisabled, .accountEnabled, .passwordChanged, .groupCreated, .groupDeleted, .groupChanged,
                              .groupMemberAdded, .groupMemberRemoved] {
            #expect(kinds.contains(k), "no built-in rule yields \(k)")
        }
        #expect(Set(RuleSet.builtin.rules.map(\.id)).count == RuleSet.builtin.rules.count)
    }

    @Test func eventJSONUsesTheVocabulary() {
        let e = Event(kind: .login, outcome: .failure, timeMicroseconds: 1_795_939_815_123_456, host: "h", program: "sshd", pid: 7,
                      user: "a\"b", sourceIP: "192.0.2.7", sourcePort: 22, method: "password", rule: "r", severity: .low, raw: "x\ny")
        #expect(e.jsonObject(extra: [("input", .string("f")), ("line", .int(3))]) ==
            #"{"kind": "login", "outcome": "failure", "time": "2026-11-29T08:10:15.123456Z", "host": "h", "program": "sshd", "pid": 7, "user": "a\"b", "source_ip": "192.0.2.7", "source_port": 22, "method": "password", "rule": "r", "severity": "low", "raw": "x\ny", "input": "f", "line": 3}"#)
    }
}
