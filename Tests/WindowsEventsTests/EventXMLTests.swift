import Foundation
import Testing

@testable import WindowsEvents

@Suite("Event XML")
struct EventXMLTests {
    static let windowsXML = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/windows-xml").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: windowsXML.path) }

    /// Microsoft's documented 4740 and 4725, as Event Viewer copies them ("- " before elements
    /// with children) and cleaned: the same event either way.
    @Test(.enabled(if: available, "../shared/testdata/windows-xml is absent"))
    func eventViewerCopiesReadLikeCleanXML() throws {
        for id in ["4725", "4740"] {
            let copy = EventXMLReader().events(in: try String(contentsOf: Self.windowsXML.appendingPathComponent("event-\(id).docs.txt"), encoding: .utf8))
            let clean = EventXMLReader().events(in: try String(contentsOf: Self.windowsXML.appendingPathComponent("event-\(id).xml"), encoding: .utf8))
            #expect(copy.damaged == 0 && clean.damaged == 0)
            try #require(copy.events.count == 1 && clean.events.count == 1)
            #expect(copy.events[0] == clean.events[0])
            #expect(copy.events[0].eventID == UInt32(id))
        }
        let lockout = EventXMLReader().events(in: try String(contentsOf: Self.windowsXML.appendingPathComponent("event-4740.docs.txt"), encoding: .utf8)).events[0]
        #expect(lockout.channel == "Security")
        #expect(lockout.provider == "Microsoft-Windows-Security-Auditing")
        #expect(lockout.computer == "DC01.contoso.local")
        #expect(lockout.recordID == 175703)
        #expect(lockout.time == "2015-08-21T22:06:08.576887Z")
        #expect(lockout["TargetUserName"] == "Auditor")
        #expect(lockout["TargetDomainName"] == "WIN81")
        #expect(lockout["SubjectUserName"] == "DC01$")
        #expect(lockout.data.count == 7)
    }

    /// `wevtutil qe Security /f:xml /e:Events` style: several events, single quotes, a
    /// namespace prefix, entities, character references, CDATA, comments, unnamed Data and
    /// UserData.
    @Test func wevtutilOutputWithEveryKindOfText() {
        let text = """
            <?xml version="1.0"?><!DOCTYPE x><Events><!-- first -->\
            <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' \
            Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID Qualifiers='0'>4625</EventID><TimeCreated SystemTime='2026-12-07T03:51:13.1234567Z'/>\
            <EventRecordID>42</EventRecordID><Channel>Security</Channel><Computer>WS01.example.org</Computer><Security/></System>\
            <EventData><Data Name='TargetUserName'>adm&amp;in &lt;x&gt; &#65;&#x42;</Data><Data Name='IpAddress'>192.0.2.7</Data>\
            <Data Name='Cdata'><![CDATA[<not a tag> & co]]></Data><Data Name='Empty'/><Data Name="Spaces">  two  </Data></EventData></Event>
            <evt:Event xmlns:evt='http://schemas.microsoft.com/win/2004/08/events/event'><evt:System><evt:Provider Name="EventLog"/>\
            <evt:EventID>104</evt:EventID><evt:TimeCreated SystemTime="2026-12-07T04:00:00+08:00"/><evt:Channel>System</evt:Channel>\
            <evt:Computer>DC1</evt:Computer></evt:System><evt:UserData><LogFileCleared xmlns='x'><SubjectUserName>mallory</SubjectUserName>\
            <Channel>Security</Channel><Info Kind="a"/></LogFileCleared></evt:UserData></evt:Event>
            <Event><System><EventID>7045</EventID></System><EventData><Data>one</Data><Data>two</Data></EventData></Event></Events>
            """
        let (events, damaged) = EventXMLReader().events(in: text)
        #expect(damaged == 0)
        #expect(events.count == 3)
        guard events.count == 3 else { return }
        let failure = events[0]
        #expect(failure.eventID == 4625)
        #expect(failure.recordID == 42)
        #expect(failure.computer == "WS01.example.org")
        #expect(failure.time == "2026-12-07T03:51:13.123456Z")
        #expect(failure.data == [
            .init(name: "TargetUserName", value: "adm&in <x> AB"), .init(name: "IpAddress", value: "192.0.2.7"),
            .init(name: "Cdata", value: "<not a tag> & co"), .init(name: "Empty", value: ""), .init(name: "Spaces", value: "  two  "),
        ])
        let cleared = events[1]
        #expect(cleared.eventID == 104)
        #expect(cleared.provider == "EventLog")
        #expect(cleared.time == "2026-12-06T20:00:00.000000Z")
        #expect(cleared.data == [.init(name: "SubjectUserName", value: "mallory"), .init(name: "Channel", value: "Security"), .init(name: "Kind", value: "a")])
        #expect(events[2].data == [.init(name: "Data[1]", value: "one"), .init(name: "Data[2]", value: "two")])
    }

    /// Hostile text: deep nesting is cut at `maxDepth` and counted, an unfinished event is
    /// counted, repeated names are numbered, and the cost stays linear.
    @Test func hostileTextIsBoundedAndCounted() {
        let deep = "<Event><EventData>" + String(repeating: "<a>", count: 100_000) + "x" + String(repeating: "</a>", count: 100_000)
            + "</EventData></Event><Event><System><EventID>1</EventID></System></Event>"
        let start = ContinuousClock.now
        let (events, damaged) = EventXMLReader().events(in: deep)
        #expect(damaged == 1)
        #expect(events.map(\.eventID) == [1])
        #expect(ContinuousClock.now - start < .seconds(10))

        let unfinished = EventXMLReader().events(in: "<Event><System><EventID>5</EventID>")
        #expect(unfinished.events.isEmpty && unfinished.damaged == 1)

        let repeated = "<Event><UserData><R>" + String(repeating: "<Header>h</Header>", count: 3) + "</R></UserData></Event>"
        #expect(EventXMLReader().events(in: repeated).events.first?.data.map(\.name) == ["Header", "Header[2]", "Header[3]"])

        let many = "<Event><EventData>" + String(repeating: "<Data>v</Data>", count: 5000) + "</EventData></Event>"
        #expect(EventXMLReader().events(in: many).events.first?.data.count == EventCollector.maxFields)

        for garbage in ["<", "<<<<", "&&&;", "<Event", "<Event a='", "<Event></", "<?", "<!--", "<![CDATA["] {
            _ = EventXMLReader().events(in: garbage)
        }
    }
}
