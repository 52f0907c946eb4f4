import Wire

/// One Windows event record as the edge needs it, whatever it was read from (an EVTX file,
/// event XML, a forwarder's line): the System fields rules look at, and the EventData or
/// UserData values by name, in the order the record gives them.
package struct WindowsEvent: Sendable, Equatable {
    /// `EventRecordID`: the record's number in its log.
    package var recordID: UInt64
    package var eventID: UInt32
    package var channel: String
    /// `Provider/@Name` (or `@EventSourceName` for classic providers that give only that).
    package var provider: String
    package var computer: String
    /// `TimeCreated/@SystemTime`, microseconds since the Unix epoch (UTC).
    package var timeMicroseconds: Int64
    /// `Security/@UserID`, the SID the event was logged for (empty when absent).
    package var userID: String
    /// EventData's `Data` values by their `Name` (unnamed ones as `Data[1]`, `Data[2]`, ...),
    /// or UserData's leaf elements by their element name.
    package var data: [Field]

    package struct Field: Sendable, Equatable {
        package var name: String
        package var value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package init(
        recordID: UInt64 = 0, eventID: UInt32 = 0, channel: String = "", provider: String = "",
        computer: String = "", timeMicroseconds: Int64 = 0, userID: String = "", data: [Field] = []
    ) {
        self.recordID = recordID
        self.eventID = eventID
        self.channel = channel
        self.provider = provider
        self.computer = computer
        self.timeMicroseconds = timeMicroseconds
        self.userID = userID
        self.data = data
    }

    /// The first value named `name`, if any.
    package subscript(name: String) -> String? {
        data.first { $0.name == name }?.value
    }

    /// `TimeCreated` as ISO 8601 UTC with microseconds.
    package var time: String {
        SyslogTimestamp.iso8601UTC(microseconds: timeMicroseconds)
    }

    /// `edge read-evtx --json`: `record_id`, `event_id`, `channel`, `provider`, `computer`,
    /// `time` and `data` (an object of name to value), on one line, without a newline.
    package func appendJSON(to out: inout [UInt8]) {
        appendJSONHead(to: &out)
        for (i, field) in data.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Event.appendQuoted(field.name, to: &out)
            out.append(UInt8(ascii: ":"))
            Event.appendQuoted(field.value, to: &out)
        }
        out.append(contentsOf: "}}".utf8)
    }

    /// Everything up to the first member of `data`.
    func appendJSONHead(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"record_id":"#.utf8)
        Event.appendDecimal(Int64(truncatingIfNeeded: recordID), to: &out)
        out.append(contentsOf: #","event_id":"#.utf8)
        Event.appendDecimal(Int64(eventID), to: &out)
        out.append(contentsOf: #","channel":"#.utf8)
        Event.appendQuoted(channel, to: &out)
        out.append(contentsOf: #","provider":"#.utf8)
        Event.appendQuoted(provider, to: &out)
        out.append(contentsOf: #","computer":"#.utf8)
        Event.appendQuoted(computer, to: &out)
        out.append(contentsOf: #","time":""#.utf8)
        SyslogTimestamp.appendISO8601UTC(microseconds: timeMicroseconds, to: &out)
        out.append(contentsOf: #"","data":{"#.utf8)
    }

    /// `edge read-evtx` without `--json`: the record id, time, channel, event id, provider and
    /// computer, then `name=value` pairs, on one line (control characters shown escaped).
    package func appendText(to out: inout [UInt8]) {
        Event.appendDecimal(Int64(truncatingIfNeeded: recordID), to: &out)
        out.append(UInt8(ascii: " "))
        SyslogTimestamp.appendISO8601UTC(microseconds: timeMicroseconds, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: TerminalText.safe(channel).utf8)
        out.append(UInt8(ascii: " "))
        Event.appendDecimal(Int64(eventID), to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: TerminalText.safe(provider.isEmpty ? "-" : provider).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: TerminalText.safe(computer.isEmpty ? "-" : computer).utf8)
        for field in data {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: TerminalText.safe(field.name).utf8)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: TerminalText.safe(field.value).utf8)
        }
    }
}
