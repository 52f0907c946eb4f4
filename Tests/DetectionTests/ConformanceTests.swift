import Foundation
import Testing
import Wire

@testable import Detection

/// Detection over real logs in ../shared/testdata (skipped, with a message, when absent).
@Suite("Conformance on real logs")
struct ConformanceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/linux-auth").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: root.path) }

    static func lines(_ relative: String) throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    static func parser(reference: String) -> SyslogParser {
        // The logs were written on 2026-11-29 (debian12) and in December (loghub); a
        // reference at the end of the capture resolves their BSD years.
        let micros: Int64 = reference == "debian12" ? 1_795_968_000_000_000 : 1_796_083_200_000_000
        return SyslogParser(yearInference: BSDYearInference(referenceMicroseconds: micros, timeZone: TimeZone(identifier: "UTC")!))
    }

    /// Every record of debian12/, in each of its four formats, yields exactly the events of
    /// Expected/debian12.json (line, kind, outcome, user, target, group, source, port,
    /// method, rule); lines not listed yield none.
    @Test(.enabled(if: available, "../shared/testdata/linux-auth is absent: real-log conformance skipped"),
          arguments: ["traditional", "rfc3339", "pri-rfc3339", "rfc5424"])
    func debian12(format: String) throws {
        let expectedURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Expected/debian12.json")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: expectedURL)) as? [[Any]])
        let lines = try Self.lines("debian12/auth.\(format).log")
        #expect(lines.count == 183)
        let detector = Detector()
        let parser = Self.parser(reference: "debian12")
        var actual: [[String]] = []
        for (i, line) in lines.enumerated() {
            for e in detector.detect(line: Array(line.utf8), parser: parser) {
                #expect(e.host == "vm")
                #expect(e.timeMicroseconds != nil)
                #expect(e.raw == line)
                actual.append([String(i + 1), e.kind.rawValue, e.outcome?.rawValue, e.user, e.targetUser, e.group, e.sourceIP,
                               e.sourcePort.map(String.init), e.method, e.rule].map { $0 ?? "-" })
            }
        }
        let wanted = expected.map { row in row.map { value -> String in
            if let n = value as? NSNumber { return n.stringValue }
            return value as? String ?? "-"
        } }
        #expect(actual.count == wanted.count)
        for (a, w) in zip(actual, wanted) where a != w {
            Issue.record("line \(w[0]): expected \(w), got \(a)")
        }
        // Every program of the capture that acts on accounts is covered.
        let programs = Set(wanted.map { $0[9].split(separator: ".")[0] })
        for p in ["sshd", "su", "runuser", "sudo", "login", "useradd", "usermod", "userdel", "groupadd", "groupdel", "groupmod", "gpasswd", "passwd", "pam", "chage"] {
            #expect(programs.contains(Substring(p)), "no event from \(p)")
        }
    }

    /// loghub OpenSSH: every failed-password, failed-none and accepted line yields a `login`
    /// event with the outcome, user, source IP and port of its ground-truth ParameterList,
    /// and the attempts counted (login failures with a method) are exactly those lines.
    @Test(.enabled(if: available, "../shared/testdata/linux-auth is absent: real-log conformance skipped"))
    func loghubOpenSSH() throws {
        let folder = "loghub-2.0/2k_dataset/OpenSSH/"
        let lines = try Self.lines(folder + "OpenSSH_2k.log")
        let rows = try CSV.parse(try String(contentsOf: Self.root.appendingPathComponent(folder + "OpenSSH_2k.log_structured.csv"), encoding: .utf8))
        let header = rows[0]
        let lineID = try #require(header.firstIndex(of: "LineId"))
        let eventID = try #require(header.firstIndex(of: "EventId"))
        let parameters = try #require(header.firstIndex(of: "ParameterList"))
        let detector = Detector()
        let parser = Self.parser(reference: "loghub")
        var checked = 0
        var expectedAttempts = 0
        for row in rows.dropFirst() where row.count == header.count {
            let n = Int(row[lineID])!
            let params = CSV.pythonList(row[parameters])
            let events = detector.detect(line: Array(lines[n - 1].utf8), parser: parser)
            let (outcome, fields, repeats): (Event.Outcome, [String], Int)
            switch row[eventID] {
            case "E1": (outcome, fields, repeats) = (.success, params, 1)
            case "E8", "E9", "E10": (outcome, fields, repeats) = (.failure, params, 1)
            case "E14": (outcome, fields, repeats) = (.failure, Array(params.dropFirst()), Int(params[0])!)
            default: continue
            }
            checked += 1
            // `Failed none` is sshd's probe of whether the account needs authentication at
            // all, not a guess (auth-messages catalogue): an event, not an attempt.
            let probe = row[eventID] == "E8"
            if outcome == .failure, !probe { expectedAttempts += repeats }
            #expect(events.count == 1 && events.first?.occurrences == repeats, "line \(n): \(events.count) events, count \(events.first?.count ?? 1), expected \(repeats)")
            for e in events {
                #expect(e.kind == .login && e.outcome == outcome, "line \(n)")
                #expect(e.user == fields[0], "line \(n): user \(e.user ?? "-") != \(fields[0])")
                #expect(e.sourceIP == fields[1], "line \(n): source \(e.sourceIP ?? "-") != \(fields[1])")
                // loghub's E14 template ends "port <*>]", so its port parameter reads "42393 ssh2".
                let port = fields[2].split(separator: " ").first.map(String.init)
                #expect(e.sourcePort.map(String.init) == port, "line \(n): port")
                #expect((e.method != nil) == !probe, "line \(n): an attempt carries its method, a probe none")
            }
        }
        #expect(checked == 1 + 4 + 383 + 135 + 2)
        let attempts = lines.reduce(0) { total, line in
            total + detector.detect(line: Array(line.utf8), parser: parser).filter { $0.kind == .login && $0.outcome == .failure && $0.method != nil }
                .reduce(0) { $0 + $1.occurrences }
        }
        #expect(attempts == expectedAttempts, "attempts counted once each")
    }
}

/// Just enough CSV (RFC 4180 quoting) for loghub's structured files.
enum CSV {
    static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.unicodeScalars.append("\""); chars.removeFirst() } else { quoted = false }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else if c != "\r" {
                field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// "['a', 'b']" → ["a", "b"]
    static func pythonList(_ text: String) -> [String] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !inner.isEmpty else { return [] }
        return inner.components(separatedBy: "', '").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
    }
}
