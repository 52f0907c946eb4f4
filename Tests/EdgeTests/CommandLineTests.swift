import Foundation
import Testing

/// The command-line contract of PRODUCT.md, through the real binary.
@Suite("edge command line")
struct CommandLineTests {
    static func run(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CrashTests.edgeBinary())
        p.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func checkConfigOfAFileThatIsNotThereSaysSo() throws {
        let path = "/nonexistent-\(UUID().uuidString)/edge.yaml"
        let r = try Self.run(["check-config", "--config", path])
        #expect(r.status != 0)
        #expect((r.out + r.err).contains("\(path): cannot read the file"), "\(r)")
    }

    @Test func testRulesJSONHasTheVocabularyInputAndLine() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).log").path
        try """
            Nov 29 16:10:15 web-01 cron[1]: nothing here
            2026-11-29T16:10:16.000001+00:00 web-01 sshd[42]: Accepted publickey for bob from 192.0.2.5 port 2200 ssh2: ED25519 SHA256:x
            <86>1 2026-11-29T16:10:17.5Z web-01 usermod 43 - - lock user 'bob' password

            """.write(toFile: log, atomically: true, encoding: .utf8)
        let result = try Self.run(["test-rules", "--json", log])
        #expect(result.status == 0)
        let objects = result.out.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 2)
        let login = try #require(objects.first ?? nil)
        #expect(login["kind"] as? String == "login" && login["outcome"] as? String == "success")
        #expect(login["user"] as? String == "bob" && login["source_ip"] as? String == "192.0.2.5" && login["source_port"] as? Int == 2200)
        #expect(login["method"] as? String == "publickey" && login["host"] as? String == "web-01" && login["pid"] as? Int == 42)
        #expect(login["time"] as? String == "2026-11-29T16:10:16.000001Z")
        #expect(login["input"] as? String == log && login["line"] as? Int == 2)
        // The key text after "ssh2: " is the client's: its own rule, where the user is one word.
        #expect(login["rule"] as? String == "sshd.accepted.key" && login["raw"] as? String != nil)
        #expect(login["target_user"] == nil, "absent fields are omitted")
        let lock = try #require(objects.last ?? nil)
        // `usermod -L` is an administrator's lock: account.disabled (the catalogue), apart from
        // the automatic lockout after failures (account.locked).
        #expect(lock["kind"] as? String == "account.disabled" && lock["target_user"] as? String == "bob" && lock["line"] as? Int == 3)
    }

    @Test func testRulesReadsStandardInputAndExtraRules() throws {
        let rules = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).yaml").path
        try """
            rules:
              - id: local.vpn
                programs: [openvpn]
                pattern: "{source_ip}:{source_port} [{user}] Peer Connection Initiated{_}"
                kind: login
                outcome: success
            """.write(toFile: rules, atomically: true, encoding: .utf8)
        let result = try Self.run(
            ["test-rules", "--rules", rules, "-"], stdin: "Nov 29 16:10:15 gw openvpn[9]: 192.0.2.9:1194 [carol] Peer Connection Initiated with x\n")
        #expect(result.status == 0)
        #expect(result.out.hasPrefix("-:1: login success user=carol from=192.0.2.9 port=1194"), "\(result.out)")
    }

    @Test func checkConfigReportsMistakesWithTheirLines() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).yaml").path
        try "edge_id: ok\nkey: nothex\nrelay: {addresses: [\"h:1\"]}\nbatch: {max_events: 0}\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try Self.run(["check-config", "--config", config])
        #expect(result.status == 78)
        #expect(result.err.contains("\(config):2:"), "\(result.err)")
        #expect(result.err.contains("\(config):4:"), "\(result.err)")
    }

    /// A configuration with nothing wrong passes, exit 0, and says what it will do.
    @Test func checkConfigPassesAGoodConfiguration() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-ok-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = dir + "/edge.yaml"
        try """
            edge_id: web-01
            key: \(String(repeating: "ab", count: 32))
            relay: {transport: tcp, addresses: ["127.0.0.1:5514"]}
            sources: [{file: \(dir)/auth.log}]
            state_directory: \(dir)/state
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try Self.run(["check-config", "--config", config])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("ok") || result.err.contains("ok"), "\(result.out) \(result.err)")
    }

    /// Several inputs: each event names its own input and line.
    @Test func testRulesReadsSeveralInputs() throws {
        let a = FileManager.default.temporaryDirectory.appendingPathComponent("cli-a-\(UUID().uuidString).log").path
        let b = FileManager.default.temporaryDirectory.appendingPathComponent("cli-b-\(UUID().uuidString).log").path
        try "Nov 29 16:10:15 h sshd[1]: Failed password for root from 203.0.113.1 port 22 ssh2\n".write(toFile: a, atomically: true, encoding: .utf8)
        try "Nov 29 16:10:15 h cron[1]: nothing\nNov 29 16:10:16 h useradd[2]: new user: name=eve, UID=1001, GID=1001, home=/home/eve, shell=/bin/sh, from=/dev/pts/0\n"
            .write(toFile: b, atomically: true, encoding: .utf8)
        let result = try Self.run(["test-rules", "--json", a, b])
        #expect(result.status == 0)
        let objects = result.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.map { "\($0["input"] ?? "-"):\($0["line"] ?? "-") \($0["kind"] ?? "-")" }
            == ["\(a):1 login", "\(b):2 account.created"])
    }

    @Test func versionAndHelp() throws {
        #expect(try Self.run(["--version"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try Self.run(["--help"]).out
        for sub in ["run", "check-config", "test-rules", "read-evtx"] { #expect(help.contains(sub)) }
    }

    static let evtxSamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx/omerbenamram/samples").standardizedFileURL

    /// `edge read-evtx [--json] FILE...`: one record per line with the fields PRODUCT.md
    /// names; damage and unreadable files reported on standard error.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: evtxSamples.path), "../shared/testdata/evtx is absent"))
    func readEvtxPrintsOneRecordPerLine() throws {
        let security = Self.evtxSamples.appendingPathComponent("security.evtx").path
        let json = try Self.run(["read-evtx", "--json", security])
        #expect(json.status == 0)
        #expect(json.err.isEmpty)
        let lines = json.out.split(separator: "\n")
        #expect(lines.count == 2261)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(Set(second.keys) == ["record_id", "event_id", "channel", "provider", "computer", "time", "data"])
        #expect(second["record_id"] as? Int == 2)
        #expect(second["event_id"] as? Int == 4624)
        #expect(second["channel"] as? String == "Security")
        #expect(second["provider"] as? String == "Microsoft-Windows-Security-Auditing")
        #expect(second["computer"] as? String == "37L4247F27-25")
        #expect(second["time"] as? String == "2016-07-08T18:12:51.681640Z")
        let data = try #require(second["data"] as? [String: String])
        #expect(data["TargetUserName"] == "SYSTEM")
        #expect(data["LogonType"] == "0")
        #expect(data["TargetLogonId"] == "0x3e7")

        let text = try Self.run(["read-evtx", security])
        #expect(text.out.split(separator: "\n").dropFirst().first?.hasPrefix(
            "2 2016-07-08T18:12:51.681640Z Security 4624 Microsoft-Windows-Security-Auditing 37L4247F27-25 SubjectUserSid=S-1-0-0 ") == true)

        let damaged = try Self.run(["read-evtx", Self.evtxSamples.appendingPathComponent("sample_with_a_bad_chunk_magic.evtx").path, "/nonexistent.evtx"])
        #expect(damaged.status == 1)
        #expect(damaged.out.split(separator: "\n").count == 270)
        #expect(damaged.err.contains("270 records; 2 damaged chunks skipped"))
        #expect(damaged.err.contains("cannot open /nonexistent.evtx"))
    }

    /// `edge test-rules` on EVTX and event XML: the Windows rules, `line` the record id.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: evtxSamples.path), "../shared/testdata/evtx is absent"))
    func testRulesReadsEvtxAndEventXML() throws {
        let evtx = Self.evtxSamples.appendingPathComponent("new-user-security.evtx").path
        let xml = Self.evtxSamples.appendingPathComponent("../../../windows-xml/event-4740.docs.txt").standardized.path
        let result = try Self.run(["test-rules", "--json", evtx, xml])
        #expect(result.status == 0)
        let objects = result.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let summary = objects.map { "\($0["line"] ?? "-") \($0["kind"] ?? "-") \($0["target_user"] ?? "-") \($0["group"] ?? "-")" }
        #expect(summary.contains("112 account.created IEUser -"))
        #expect(summary.contains("116 group.member_added IEUser Administrators"))
        #expect(summary.last == "175703 account.locked Auditor -")
        #expect(objects.allSatisfy { ($0["input"] as? String) == evtx || ($0["input"] as? String) == xml })
        let created = try #require(objects.first { $0["line"] as? Int == 112 })
        #expect(created["host"] as? String == "IE8Win7" && created["rule"] as? String == "windows.account.created")
        #expect(created["time"] as? String != nil && created["program"] as? String == "Microsoft-Windows-Security-Auditing")

        let text = try Self.run(["test-rules", xml])
        #expect(text.out == "\(xml):175703: account.locked user=DC01$ target=Auditor severity=medium rule=windows.account.locked\n")
    }
}
