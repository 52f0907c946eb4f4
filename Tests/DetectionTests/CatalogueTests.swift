import Foundation
import Testing
import Wire

@testable import Detection

/// The catalogue of auth messages (../shared/testdata/auth-messages/): every message form the
/// Linux programs (and a few Unix ones) write, read from their source code, with a synthetic
/// log of 250 lines and the event each line stands for. It is the rule pack's specification.
@Suite("Catalogue of auth messages")
struct CatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/auth-messages").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("synthetic.log").path) }

    /// Lines whose `attempt` depends on the lines around them, which a rule cannot see: the
    /// catalogue counts them because the line that is usually the attempt is absent there.
    /// Each is an event with the expected fields; it is not counted as an attempt.
    static let contextualAttempts: [Int: String] = [
        18: "Invalid user with an empty name and no Failed line after it (the client gave up)",
        210: "Solaris error: PAM: without the Failed keyboard-interactive line (LogLevel INFO there)",
        211: "Solaris Invalid user without a Failed line after it",
    ]

    struct Expected: Decodable {
        var line: Int
        var event: Bool?
        var kind: String?
        var outcome: String?
        var user: String?
        var target_user: String?
        var group: String?
        var source_ip: String?
        var attempt: Bool?
    }

    /// Both paths the rules run on: the edge's (the line's bytes scanned in place) and the
    /// relay's plain-syslog path (the message parsed, then the rules).
    static func events(_ line: String, detector: Detector, parser: SyslogParser) -> (edge: [Event], relay: [Event]) {
        let edge = detector.detect(line: Array(line.utf8), parser: parser)
        let relay = (try? parser.parse(Array(line.utf8))).map { detector.detect($0, raw: line) } ?? []
        return (edge, relay)
    }

    @Test(.enabled(if: available, "../shared/testdata/auth-messages is absent: catalogue conformance skipped"))
    func everySyntheticLineGivesItsExpectedEvent() throws {
        let lines = try String(contentsOf: Self.root.appendingPathComponent("synthetic.log"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        let expected = try String(contentsOf: Self.root.appendingPathComponent("synthetic.expected.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(Expected.self, from: Data($0.utf8)) }
        #expect(lines.count == 250 && expected.count == 250)
        let detector = Detector()
        // The sample is of 2026-12-01 (BSD lines have no year).
        let parser = SyslogParser(yearInference: BSDYearInference(referenceMicroseconds: 1_796_083_200_000_000, timeZone: TimeZone(identifier: "UTC")!))
        var agreed = 0
        var attempts = 0
        for e in expected {
            let line = lines[e.line - 1]
            let (edge, relay) = Self.events(line, detector: detector, parser: parser)
            #expect(edge.map(\.rule) == relay.map(\.rule), "line \(e.line): the edge and the relay disagree")
            if e.event == false {
                #expect(edge.isEmpty, "line \(e.line) is no account event: \(edge.map { $0.rule ?? "" }) on \(line)")
                if edge.isEmpty { agreed += 1 }
                continue
            }
            guard let got = edge.first, edge.count == 1 else {
                Issue.record("line \(e.line): \(edge.count) events for \(line)")
                continue
            }
            let want = [e.kind, e.outcome, e.user, e.target_user, e.group, e.source_ip]
            let have = [got.kind.rawValue, got.outcome?.rawValue, got.user, got.targetUser, got.group, got.sourceIP]
            #expect(want == have, "line \(e.line) (\(got.rule ?? "")): \(line)")
            if want == have { agreed += 1 }
            // One attempt counts once: a login failure is counted when it carries a method.
            if e.kind == "login", e.outcome == "failure" {
                let counted = got.method != nil
                if Self.contextualAttempts[e.line] != nil {
                    #expect(!counted, "line \(e.line) is contextual and listed as such")
                } else {
                    #expect(counted == (e.attempt ?? false), "line \(e.line): counted \(counted), catalogue \(e.attempt ?? false): \(line)")
                    if counted { attempts += 1 }
                }
            }
        }
        #expect(agreed == 250)
        print("auth-messages catalogue: \(agreed) of 250 lines as expected; \(attempts) login-failure attempts counted")
    }

    /// Lines written from every row of the catalogue's tables and every variant its versions
    /// column names (Expected/catalogue-variants.jsonl, 393 lines: the sample has one line per
    /// form, not per version). These do not match, each for its reason; every other must.
    static let knownVariantMisses: [String: String] = [
        "SSH-01 <=3.0 ROOT": "OpenSSH 3.0 wrote ROOT in capitals; the user is kept as written",
        "SSH-11 rhosts-rsa ruser": "SSH-1 rhosts authentication, gone since OpenSSH 7.4",
        "SSH-11 without authentication": "SSH-1 era wording",
        "SSH-55 [postauth] (>=10.0 decoration)": "the 10.x [postauth] suffix on logouts is not read yet",
        "PAM-03 sudo": "the catalogue names no target for sudo's 'PAM N more'; the rule takes user= as the target",
        "SHD-18 past date": "an expiry in the past is account.disabled: a rule cannot compare dates",
        "SHD-44 remote": "whether FAILED LOGIN is the attempt depends on the lines after it",
        "SHD-44 <=4.1.2": "whether FAILED LOGIN is the attempt depends on the lines after it",
        "SUDO-01 -g": "the catalogue's sample reports no group for GROUP=; this variant does",
        "SUDO-05 -g": "the catalogue's sample reports no group for GROUP=; this variant does",
        "DB-09 0 fails": "a disconnect after 0 failures is no event: a rule cannot compare numbers",
    ]

    struct Variant: Decodable {
        var id: String
        var program: String
        var message: String
        var event: Bool?
        var kind: String?
        var outcome: String?
        var user: String?
        var target_user: String?
        var group: String?
        var source_ip: String?
        var attempt: Bool?
    }

    @Test func everyVersionVariantOfTheCataloguesForms() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Expected/catalogue-variants.jsonl")
        let variants = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(Variant.self, from: Data($0.utf8))
        }
        #expect(variants.count == 393)
        let detector = Detector()
        var misses: [String] = []
        for v in variants {
            let program = String(v.program.prefix { $0 != "[" })
            let events = detector.detect(program: program, pid: 1, host: "h", timeMicroseconds: nil, message: v.message, raw: v.message)
            var right: Bool
            if v.event == false {
                right = events.isEmpty
            } else if let e = events.first, events.count == 1 {
                right = [v.kind, v.outcome, v.user, v.target_user, v.group, v.source_ip]
                    == [e.kind.rawValue, e.outcome?.rawValue, e.user, e.targetUser, e.group, e.sourceIP]
                if let attempt = v.attempt, v.kind == "login", v.outcome == "failure" { right = right && (e.method != nil) == attempt }
            } else {
                right = false
            }
            if !right { misses.append(v.id) }
            if Self.knownVariantMisses[v.id] == nil {
                #expect(right, "\(v.id) (\(program)): \(v.message) gave \(events.map { "\($0.rule ?? "") \($0.kind.rawValue)/\($0.outcome?.rawValue ?? "-") user=\($0.user ?? "-") target=\($0.targetUser ?? "-") ip=\($0.sourceIP ?? "-")" })")
            }
        }
        // A known miss that starts to match is news: the list is kept exact.
        #expect(Set(misses) == Set(Self.knownVariantMisses.keys), "misses now: \(misses.sorted())")
        print("catalogue variants: \(variants.count - misses.count) of \(variants.count) as the catalogue says")
    }

    /// The `scan` rule set (deploy/rules/scan.yaml) is not built in: connection-level noise
    /// is no account event by default, and with the set loaded it is a login failure that is
    /// never an attempt.
    @Test func theScanRuleSetTurnsConnectionNoiseIntoEvents() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/rules/scan.yaml").standardizedFileURL.path
        let scan = Detector(rules: RuleSet.builtin.applying(try RuleLoader.load(file: file)))
        let lines = [
            ("sshd", "Did not receive identification string from 198.51.100.66 port 40404", "198.51.100.66"),
            ("sshd", "Bad protocol version identification 'GET / HTTP/1.1' from 198.51.100.67 port 40405", "198.51.100.67"),
            ("sshd", "Unable to negotiate with 203.0.113.99 port 39000: no matching key exchange method found. Their offer: x [preauth]", "203.0.113.99"),
            ("sshd", "error: Received disconnect from 192.0.2.45 port 51000:3: com.example.client.AuthFailed: Auth fail [preauth]", "192.0.2.45"),
            ("sshd", "reverse mapping checking getaddrinfo for x.example [203.0.113.5] failed - POSSIBLE BREAK-IN ATTEMPT!", "203.0.113.5"),
        ]
        for (program, message, ip) in lines {
            #expect(Detector().detect(program: program, pid: 1, host: "h", timeMicroseconds: nil, message: message, raw: message).isEmpty,
                    "built in: \(message)")
            let events = scan.detect(program: program, pid: 1, host: "h", timeMicroseconds: nil, message: message, raw: message)
            #expect(events.count == 1 && events.first?.sourceIP == ip && events.first?.method == nil && events.first?.kind == .login,
                    "with scan.yaml: \(message)")
        }
    }

    /// Header variants the users' hosts write: no host name, no PID, one space in the day,
    /// RFC 5424 with a nil host, and one space where PAM writes two.
    @Test(arguments: [
        "Dec  1 10:00:00 sshd[123]: Failed password for root from 203.0.113.1 port 22 ssh2",
        "Dec  1 10:00:00 host sshd: Failed password for root from 203.0.113.1 port 22 ssh2",
        "<38>Dec  1 10:00:00 sshd[9]: Failed password for root from 203.0.113.1 port 22 ssh2",
        "Dec 1 10:00:00 host sshd[5]: Failed password for root from 203.0.113.1 port 22 ssh2",
        "<38>1 2026-12-01T10:00:00Z - sshd - - - Failed password for root from 203.0.113.1 port 22 ssh2",
        "Dec  1 10:00:00 host sshd[5]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.1 user=root",
        "Dec  1 10:00:00 host cron[5]: pam_unix(cron:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.1 user=root",
    ])
    func headerVariants(line: String) {
        let parser = SyslogParser(yearInference: BSDYearInference(referenceMicroseconds: 1_796_083_200_000_000, timeZone: TimeZone(identifier: "UTC")!))
        let events = Detector().detect(line: Array(line.utf8), parser: parser)
        #expect(events.count == 1 && events.first?.user == "root" && events.first?.sourceIP == "203.0.113.1" && events.first?.outcome == .failure,
                "\(line): \(events.map { $0.rule ?? "" })")
    }

    /// Forms written per program from the catalogue's tables, beyond its sample: each line
    /// with the event it must give (kind/outcome user target group source).
    @Test(arguments: [
        // OpenSSH: the protocol suffix, old wording, host names, IPv4-mapped addresses.
        ("sshd", "Failed password for bob from 203.0.113.9 port 22 ssh1", "login/failure bob - - 203.0.113.9"),
        ("sshd", "Accepted password for bob from 192.0.2.80 port 1022", "login/success bob - - 192.0.2.80"),
        ("sshd", "Failed password for illegal user x from ::ffff:192.0.2.7 port 22 ssh2", "login/failure x - - ::ffff:192.0.2.7"),
        ("sshd", "User bob from gw.example.net not allowed because listed in DenyUsers", "login/failure bob - - -"),
        ("sshd", "User bob not allowed because none of user's groups are listed in AllowGroups", "login/failure bob - - -"),
        ("sshd", "error: PAM: User not known to the underlying authentication module for illegal user zz from 203.0.113.4", "login/failure zz - - 203.0.113.4"),
        ("sshd-session", "Failed none for invalid user guest from 203.0.113.151 port 42002 ssh2", "login/failure guest - - 203.0.113.151"),
        // Solaris message IDs.
        ("sshd", "[ID 800047 auth.info] Failed password for root from 203.0.113.121 port 50002 ssh2", "login/failure root - - 203.0.113.121"),
        // su: util-linux, shadow, BusyBox.
        ("su", "FAILED su for root by bob", "privilege/failure bob root - -"),
        ("su", "Successful su for root by carol", "privilege/success carol root - -"),
        ("su", "+ pts/0 alice:root", "privilege/success alice root - -"),
        ("su", "- pts/1 bob:root", "privilege/failure bob root - -"),
        // sudo's refusals are failures; its JSON log format.
        ("sudo", "   carol : command not allowed ; TTY=pts/3 ; PWD=/home/carol ; USER=root ; COMMAND=/usr/bin/vi", "privilege/failure carol root - -"),
        ("sudo", #"@cee:{"sudo":{"reject":{"uuid":"x","submituser":"eve","command":"/bin/sh","runuser":"root","runcwd":"/"}}}"#, "privilege/failure eve root - -"),
        // login: shadow, util-linux, BusyBox; placeholders are no user.
        ("login", "FAILED LOGIN (1) on '/dev/tty1' FOR 'UNKNOWN', Authentication failure", "login/failure - - - -"),
        ("login", "FAILED LOGIN 1 FROM tty1 FOR alice, Authentication failure", "login/failure alice - - -"),
        ("login", "invalid password for 'alice' on 'ttyS0' from '198.51.100.31'", "login/failure alice - - 198.51.100.31"),
        // PAM modules under any program.
        ("sshd", "pam_faillock(sshd:auth): Consecutive login failures for user carol account temporarily locked", "account.locked/success - carol - -"),
        ("login", "pam_tally2(login:auth): user carol (1002) tally 4, deny 3", "account.locked/success - carol - -"),
        ("unix_chkpwd", "password check failed for user (alice)", "login/failure alice - - -"),
        // shadow: chsh/chfn, the old quoting.
        ("chsh", "changed user 'erin2' shell to '/bin/bash'", "account.changed/success - erin2 - -"),
        ("userdel", "delete user `oldbob'", "account.deleted/success - oldbob - -"),
        // Found in review: text after "ssh2: " is the client's (a certificate's key ID): it
        // cannot move the source address.
        ("sshd", "Failed publickey for invalid user x from 203.0.113.5 port 22 ssh2: ED25519-CERT SHA256:fp ID a from 198.51.100.99 port 1 ssh2 (serial 1) CA ED25519 SHA256:ca",
         "login/failure x - - 203.0.113.5"),
        ("sshd", "Accepted hostbased for bob from 192.0.2.7 port 22 ssh2: ED25519 SHA256:fp, client user \"z from 198.51.100.99 port 1 ssh2\", client host \"h\"",
         "login/success bob - - 192.0.2.7"),
        ("sshd", "error: PAM: Have exhausted maximum number of retries for service for oper from 203.0.113.30", "login/failure oper - - 203.0.113.30"),
        // sudo: only an accepted command's fields start with TTY= (or PWD=, HOST=); any reason
        // before them is a refusal, whatever fields follow.
        ("sudo", "bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; GROUP=adm ; COMMAND=/bin/bash", "privilege/failure bob root - -"),
        ("sudo", "bob : a terminal is required to read the password; either use the -S option ; TTY=unknown ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
         "privilege/failure bob root - -"),
        ("sudo", "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; GROUP=adm ; COMMAND=/usr/bin/id", "privilege/success alice root - -"),
        ("sudo", "alice : HOST=host01 ; TTY=unknown ; PWD=/home/alice ; USER=root ; TSID=000001 ; COMMAND=/usr/bin/id", "privilege/success alice root - -"),
        // Old wordings and other versions.
        ("login", "ROOT LOGIN ON pts/2 FROM 192.0.2.10", "login/success root - - 192.0.2.10"),
        ("userdel", "delete user 'erin'#012", "account.deleted/success - erin - -"),
        ("dropbear", "Password auth succeeded for 'root' from [2001:db8::77]:51003", "login/success root - - 2001:db8::77"),
        ("gdm-password", "pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=:0 ruser= rhost=  user=alice", "login/failure alice - - -"),
        // Dropbear: IPv6 without brackets before the port.
        ("dropbear", "Bad password attempt for 'root' from 2001:db8::77:51005", "login/failure root - - 2001:db8::77"),
        ("dropbear", "Pubkey auth succeeded for 'admin' with ssh-ed25519 key SHA256:x from 192.0.2.151:51004", "login/success admin - - 192.0.2.151"),
    ])
    func formsPerProgram(program: String, message: String, expected: String) {
        let events = Detector().detect(program: program, pid: 1, host: "h", timeMicroseconds: nil, message: message, raw: message)
        let e = events.first
        let got = e.map { "\($0.kind.rawValue)/\($0.outcome?.rawValue ?? "-") \($0.user ?? "-") \($0.targetUser ?? "-") \($0.group ?? "-") \($0.sourceIP ?? "-")" }
        #expect(events.count == 1 && got == expected, "\(program): \(message) gave \(got ?? "nothing") (\(e?.rule ?? ""))")
    }
}
