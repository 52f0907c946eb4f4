import Foundation
import Testing

@testable import Wire

@Suite("Syslog codec")
struct SyslogTests {
    let parser = SyslogParser(
        yearInference: BSDYearInference(referenceMicroseconds: 1_795_939_815_000_000, timeZone: TimeZone(identifier: "UTC")!))

    // RFC 5424 section 6.5, examples 1-4 ("BOM" stands for the three bytes EF BB BF).
    @Test func rfc5424Example1() throws {
        let text = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8"
        let m = try parser.parseRFC5424(Array(text.utf8))
        #expect(m.facility == 4 && m.severity == 2)
        #expect(m.timestamp?.rfc3339 == "2003-10-11T22:14:15.003Z")
        #expect(m.timestamp?.microseconds == 1_065_910_455_003_000)
        #expect(m.hostname == "mymachine.example.com")
        #expect(m.appName == "su" && m.procID == nil && m.msgID == "ID47")
        #expect(m.structuredData.isEmpty)
        #expect(m.hasBOM)
        #expect(m.message == "'su root' failed for lonvick on /dev/pts/8")
        #expect(SyslogFormatter.rfc5424(m) == text)
    }

    @Test func rfc5424Example2() throws {
        let text = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
        let m = try parser.parseRFC5424(Array(text.utf8))
        #expect(m.facility == 20 && m.severity == 5)
        #expect(m.timestamp?.utcOffsetSeconds == Int32(-7 * 3600))
        #expect(m.timestamp?.microseconds == 1_061_727_255_000_003)
        #expect(m.hostname == "192.0.2.1" && m.appName == "myproc" && m.procID == "8710" && m.msgID == nil)
        #expect(!m.hasBOM)
        #expect(m.message == "%% It's time to make the do-nuts.")
        #expect(SyslogFormatter.rfc5424(m) == text)
    }

    @Test func rfc5424Example3() throws {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{FEFF}An application event log entry..."
        let m = try parser.parseRFC5424(Array(text.utf8))
        let sd = try #require(m.element("exampleSDID@32473"))
        #expect(sd.parameters.map(\.name) == ["iut", "eventSource", "eventID"])
        #expect(sd["eventSource"] == "Application" && sd["eventID"] == "1011")
        #expect(m.message == "An application event log entry...")
        #expect(SyslogFormatter.rfc5424(m) == text)
    }

    @Test func rfc5424Example4() throws {
        let text = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]"
        let m = try parser.parseRFC5424(Array(text.utf8))
        #expect(m.structuredData.count == 2)
        #expect(m.element("examplePriority@32473")?["class"] == "high")
        #expect(m.message.isEmpty)
        #expect(SyslogFormatter.rfc5424(m) == text)
    }

    @Test func nilValuesEverywhere() throws {
        let m = try parser.parseRFC5424(Array("<0>1 - - - - - -".utf8))
        #expect(m.timestamp == nil && m.hostname == nil && m.appName == nil && m.procID == nil && m.msgID == nil)
        #expect(m.facility == 0 && m.severity == 0)
        #expect(SyslogFormatter.rfc5424(m) == "<0>1 - - - - - -")
    }

    @Test func paramValueEscaping() throws {
        let text = #"<13>1 - h a - - [x@32473 q="say \"hi\" \\ back\] \n"]"#
        let m = try parser.parseRFC5424(Array(text.utf8))
        #expect(m.element("x@32473")?["q"] == #"say "hi" \ back] \n"#)
        #expect(SyslogFormatter.rfc5424(m) == #"<13>1 - h a - - [x@32473 q="say \"hi\" \\ back\] \\n"]"#)
        let again = try parser.parseRFC5424(Array(SyslogFormatter.rfc5424(m).utf8))
        #expect(again.element("x@32473")?["q"] == #"say "hi" \ back] \n"#)
    }

    @Test(arguments: [
        "<192>1 - - - - - -",  // PRIVAL > 191
        "<01>1 - - - - - -",  // leading zero
        "<13>2 - - - - - -",  // version
        "<13>1 2003-13-11T22:14:15Z h a - - -",  // month 13
        "<13>1 2003-02-29T22:14:15Z h a - - -",  // not a leap year
        "<13>1 2003-10-11T22:14:15.1234567Z h a - - -",  // 7 fraction digits
        "<13>1 2003-10-11T22:14:15 h a - - -",  // no offset
        "<13>1 - h a - - [x@1 a=\"unterminated]",
        "<13>1 - h a - - [x@1 a=unquoted]",
        "<13>1 - h a - - [=bad]",
        "<13>1 - h a - - junk",
        "<13>1 - h a - -",  // missing STRUCTURED-DATA
        "<13>1 - \(String(repeating: "h", count: 256)) a - - -",  // HOSTNAME > 255
        "<13>1 - h \(String(repeating: "a", count: 49)) - - -",  // APP-NAME > 48
        "<13>1 - h a - \(String(repeating: "m", count: 33)) -",  // MSGID > 32
        "<13>1 - h a - - [\(String(repeating: "s", count: 33))]",  // SD-ID > 32
    ])
    func rfc5424Refuses(_ text: String) {
        #expect(throws: WireError.self) { try parser.parseRFC5424(Array(text.utf8)) }
    }

    @Test func rfc3164Traditional() throws {
        let m = try parser.parse(Array("Nov 29 16:10:15 web-01 sshd[4242]: Failed password for root from 203.0.113.9 port 51234 ssh2".utf8))
        #expect(m.format == .rfc3164)
        #expect(m.facility == nil)
        #expect(m.timestamp?.microseconds == 1_795_968_615_000_000)  // 2026-11-29T16:10:15Z
        #expect(m.hostname == "web-01" && m.appName == "sshd" && m.procID == "4242")
        #expect(m.message == "Failed password for root from 203.0.113.9 port 51234 ssh2")
    }

    @Test func rfc3164SpacePaddedDayAndPRI() throws {
        let m = try parser.parse(Array("<38>Nov  2 03:04:05 host sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id".utf8))
        #expect(m.facility == 4 && m.severity == 6)
        #expect(m.timestamp.map { SyslogTimestamp.iso8601UTC(microseconds: $0.microseconds, fractionDigits: 0) } == "2026-11-02T03:04:05Z")
        #expect(m.appName == "sudo" && m.procID == nil)
        #expect(m.message == "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/id")
    }

    @Test func rfc3339AsRsyslogWritesIt() throws {
        // Debian 12's default auth.log format (RSYSLOG_FileFormat), with and without PRI.
        for prefix in ["", "<86>"] {
            let m = try parser.parse(Array("\(prefix)2026-11-29T16:10:15.123456+08:00 web-01 useradd[4300]: new user: name=bob, UID=1001".utf8))
            #expect(m.format == .rfc3164)
            #expect(m.timestamp?.microseconds == 1_795_939_815_123_456)
            #expect(m.timestamp?.utcOffsetSeconds == Int32(8 * 3600))
            #expect(m.hostname == "web-01" && m.appName == "useradd" && m.procID == "4300")
            #expect(m.message == "new user: name=bob, UID=1001")
        }
    }

    /// rsyslog's RSYSLOG_TraditionalForwardFormat for a message that arrived as RFC 5424:
    /// the TAG has no colon (RFC 3164 lets any non-alphanumeric character end it).
    @Test func rfc3164TagEndedByASpace() throws {
        let m = try parser.parse(Array("<38>Nov 29 19:56:08 vm sshd Failed password for root from 203.0.113.9 port 22 ssh2".utf8))
        #expect(m.hostname == "vm" && m.appName == "sshd" && m.procID == nil)
        #expect(m.message == "Failed password for root from 203.0.113.9 port 22 ssh2")
        let p = try parser.parse(Array("<38>Nov 29 19:56:08 vm sshd[42] Accepted publickey for ops".utf8))
        #expect(p.appName == "sshd" && p.procID == "42" && p.message == "Accepted publickey for ops")
        // A colon-terminated TAG is still read as before.
        let q = try parser.parse(Array("<38>Nov 29 19:56:08 vm su: FAILED SU (to root) alice on pts/0".utf8))
        #expect(q.appName == "su" && q.message == "FAILED SU (to root) alice on pts/0")
    }

    @Test func rfc3164WithoutHostnameOrTag() throws {
        let noHost = try parser.parse(Array("<13>Nov 29 16:10:15 kernel: something".utf8))
        #expect(noHost.hostname == nil && noHost.appName == "kernel" && noHost.message == "something")
        let bare = try parser.parse(Array("<13>just some text without a tag".utf8))
        #expect(bare.appName == nil && bare.timestamp == nil && bare.message == "just some text without a tag")
        let nothing = try parser.parse(Array("".utf8))
        #expect(nothing.message == "")
    }

    @Test func invalidUTF8AndBinaryNeverCrash() throws {
        var rng = SplitMix(seed: 7)
        for _ in 0..<2000 {
            let length = Int(rng.next() % 300)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? parser.parse(bytes)
            _ = try? parser.parseRFC5424([UInt8]("<13>1 - h a - - ".utf8) + bytes)
        }
        let m = try parser.parse([0x3C, 0x31, 0x33, 0x3E, 0xFF, 0xFE, 0x41])
        #expect(m.message.contains("\u{FFFD}"))
    }

    @Test func oversizedRefused() {
        let p = SyslogParser(yearInference: parser.yearInference, maxMessageBytes: 100)
        #expect(throws: WireError.oversized) { try p.parse(Array(repeating: UInt8(ascii: "a"), count: 101)) }
    }

    @Test func trailingNewlineFromDatagramsDropped() throws {
        let m = try parser.parse(Array("<13>1 - h a - - - hello\n".utf8))
        #expect(m.format == .rfc5424 && m.message == "hello")
    }

    // Year inference: reference 2026-11-29T08:10:15Z.
    @Test func yearInference() {
        let utc = TimeZone(identifier: "UTC")!
        let nov = BSDYearInference(referenceMicroseconds: 1_795_939_815_000_000, timeZone: utc)
        func year(_ inf: BSDYearInference, _ month: Int, _ day: Int, _ h: Int = 0) -> Int64? {
            inf.resolve(month: month, day: day, hour: h, minute: 0, second: 0).map {
                CivilDate.civil(fromDays: BSDYearInference.floorDiv($0 / 1_000_000, 86_400)).year
            }
        }
        #expect(year(nov, 11, 29) == 2026)
        #expect(year(nov, 11, 30) == 2026)  // within a day ahead: clock skew, same year
        #expect(year(nov, 12, 25) == 2025)  // a month ahead can only be last year
        #expect(year(nov, 1, 5) == 2026)
        // A December line read in January belongs to the year before.
        let jan = BSDYearInference(referenceMicroseconds: 1_799_020_800_000_000, timeZone: utc)  // 2027-01-04
        #expect(year(jan, 12, 31, 23) == 2026)
        #expect(year(jan, 1, 3) == 2027)
        // A line just past midnight on New Year from a sender whose clock runs ahead.
        let eve = BSDYearInference(referenceMicroseconds: 1_798_761_590_000_000, timeZone: utc)  // 2026-12-31T23:59:50Z
        #expect(year(eve, 1, 1) == 2027)
        // Feb 29 only in leap years: 2028 is the nearest in the past of 2029-03.
        let mar2029 = BSDYearInference(referenceMicroseconds: 1_867_622_400_000_000, timeZone: utc)  // 2029-03-08
        #expect(year(mar2029, 2, 29) == 2028)
    }

    @Test func bsdTimeZone() throws {
        let shanghai = TimeZone(identifier: "Asia/Shanghai")!
        let p = SyslogParser(yearInference: BSDYearInference(referenceMicroseconds: 1_795_939_815_000_000, timeZone: shanghai))
        let m = try p.parse(Array("Nov 29 16:10:15 web-01 sshd[1]: x".utf8))
        #expect(m.timestamp?.microseconds == 1_795_939_815_000_000)  // 16:10:15+08:00
    }

    @Test func formatsRoundTripThroughTheParser() throws {
        var rng = SplitMix(seed: 99)
        for i in 0..<300 {
            let m = SyslogMessage(
                format: .rfc5424, facility: Int(rng.next() % 24), severity: Int(rng.next() % 8),
                timestamp: SyslogTimestamp(microseconds: Int64(rng.next() % 4_000_000_000_000_000), utcOffsetSeconds: Int32(Int(rng.next() % 49) - 24) * 1800, fractionDigits: Int(rng.next() % 7)),
                hostname: "host\(i)", appName: "app", procID: i % 2 == 0 ? "\(i)" : nil, msgID: nil,
                structuredData: i % 3 == 0 ? [] : [StructuredDataElement(id: "id@32473", parameters: [("k", "v\"]\\\(i)")])],
                message: i % 5 == 0 ? "" : "message \(i) ünïcode", hasBOM: i % 4 == 0)
            var expected = m
            if let t = expected.timestamp {
                let scale: Int64 = [1_000_000, 100_000, 10_000, 1000, 100, 10, 1][t.fractionDigits]
                expected.timestamp?.microseconds = t.microseconds / scale * scale
            }
            let parsed = try parser.parseRFC5424(Array(SyslogFormatter.rfc5424(m).utf8))
            #expect(parsed == expected)
        }
    }
}
