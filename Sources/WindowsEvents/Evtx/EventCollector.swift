/// Builds a `WindowsEvent` from the stream of XML parts a record expands to (open element,
/// attribute, text, end), keeping only what the event holds: System's fields, EventData's
/// `Data` by name and UserData's leaves. It says when a value is wanted, so the values of
/// everything else (Keywords, Task, Execution, ...) are never turned into text.
///
/// Shared by the EVTX reader and the event XML reader.
struct EventCollector {
    enum Place: UInt8 {
        case ignored, event, system, eventData, userData, userDataRecord
        case provider, eventID, channel, computer, timeCreated, security, eventRecordID
        case data, dataField, userDataField
    }

    /// The attribute whose value is arriving: one the event keeps, `skipped` for any other
    /// (its value must not reach the element's text), `none` outside attributes.
    enum Attribute: UInt8 { case none, skipped, providerName, eventSourceName, systemTime, dataName, userID, userDataField }

    private struct Element {
        var place: Place
        var name: String
        var text: String = ""
        var hasChildren = false
        var hasAttributes = false
        var dataName: String? = nil
    }

    private var stack: [Element] = []
    private var attribute: Attribute = .none
    private var attributeText = ""
    private var attributeName = ""
    private var unnamedData = 0
    private(set) var event = WindowsEvent()
    private var eventSourceName = ""
    private var eventRecordIDText = ""
    private var timeText = ""
    /// Text kept for this record so far. Templates can repeat a value many times; what one
    /// record can make the collector hold is bounded by `maxRecordText` and `maxFields`.
    private var keptBytes = 0
    private var repeats: [String: Int] = [:]

    static let maxRecordText = 1 << 20
    static let maxFields = 1024

    init() {
        stack.reserveCapacity(16)
    }

    mutating func reset() {
        stack.removeAll(keepingCapacity: true)
        attribute = .none
        attributeText = ""
        unnamedData = 0
        event = WindowsEvent()
        eventSourceName = ""
        eventRecordIDText = ""
        timeText = ""
        keptBytes = 0
        if !repeats.isEmpty { repeats.removeAll() }
    }

    /// Whether the text or value arriving now is kept.
    var wantsValue: Bool {
        guard keptBytes < Self.maxRecordText else { return false }
        if attribute == .skipped { return false }
        if attribute != .none { return true }
        guard let top = stack.last else { return false }
        switch top.place {
        case .eventID, .channel, .computer, .eventRecordID, .data, .dataField, .userDataField: return true
        default: return false
        }
    }

    /// Whether the value arriving now is `TimeCreated/@SystemTime` (kept as a number too).
    var wantsSystemTime: Bool { attribute == .systemTime }

    mutating func open(_ name: String) {
        finishAttribute()
        let parent = stack.last?.place
        if !stack.isEmpty { stack[stack.count - 1].hasChildren = true }
        let place: Place
        switch parent {
        case nil: place = name == "Event" ? .event : .ignored
        case .event?:
            switch name {
            case "System": place = .system
            case "EventData": place = .eventData
            case "UserData": place = .userData
            default: place = .ignored
            }
        case .system?:
            switch name {
            case "Provider": place = .provider
            case "EventID": place = .eventID
            case "Channel": place = .channel
            case "Computer": place = .computer
            case "TimeCreated": place = .timeCreated
            case "Security": place = .security
            case "EventRecordID": place = .eventRecordID
            default: place = .ignored
            }
        case .eventData?: place = name == "Data" ? .data : .dataField
        case .userData?: place = .userDataRecord
        case .userDataRecord?, .userDataField?: place = .userDataField
        default: place = .ignored
        }
        stack.append(Element(place: place, name: name))
    }

    mutating func attribute(_ name: String) {
        finishAttribute()
        guard let top = stack.last else {
            attribute = .skipped
            return
        }
        stack[stack.count - 1].hasAttributes = true
        switch (top.place, name) {
        case (.provider, "Name"): attribute = .providerName
        case (.provider, "EventSourceName"): attribute = .eventSourceName
        case (.timeCreated, "SystemTime"): attribute = .systemTime
        case (.data, "Name"): attribute = .dataName
        case (.security, "UserID"): attribute = .userID
        case (.userDataRecord, _) where name.hasPrefix("xmlns"), (.userDataField, _) where name.hasPrefix("xmlns"): attribute = .skipped
        case (.userDataRecord, _), (.userDataField, _):
            // UserData often says it in attributes: <EventAuxInfo ProcessName="Setup.exe"/>.
            attribute = .userDataField
            attributeName = name
        default: attribute = .skipped
        }
        attributeText = ""
    }

    mutating func value(_ text: String) {
        guard keptBytes < Self.maxRecordText, attribute != .skipped else { return }
        keptBytes += text.utf8.count
        if attribute != .none {
            attributeText += text
        } else if !stack.isEmpty, wantsValue {
            stack[stack.count - 1].text += text
        }
    }

    var inAttribute: Bool { attribute != .none }

    /// An array in element content: the element once per item, as Windows renders it.
    mutating func values(_ items: [String]) {
        guard let top = stack.last else { return }
        for (k, item) in items.enumerated() {
            if k > 0 {
                end()
                open(top.name)
                stack[stack.count - 1].dataName = top.dataName
            }
            value(item)
        }
    }

    /// `TimeCreated/@SystemTime` from a FILETIME: the number, not its text.
    mutating func systemTime(microseconds: Int64) {
        event.timeMicroseconds = microseconds
        attribute = .none
    }

    mutating func closeStart() {
        finishAttribute()
    }

    mutating func closeEmpty() {
        finishAttribute()
        end()
    }

    mutating func end() {
        finishAttribute()
        guard let element = stack.popLast() else { return }
        switch element.place {
        case .eventID: event.eventID = UInt32(element.text.trimmingSpaces) ?? 0
        case .channel: event.channel = element.text
        case .computer: event.computer = element.text
        case .eventRecordID: eventRecordIDText = element.text
        case .data:
            if let name = element.dataName, !name.isEmpty {
                append(name, element.text)
            } else {
                unnamedData += 1
                append("Data[\(unnamedData)]", element.text)
            }
        case .dataField, .userDataField:
            // A leaf, unless it said everything in its attributes.
            if !element.hasChildren, !element.text.isEmpty || !element.hasAttributes { append(element.name, element.text) }
        default: break
        }
    }

    /// Adds a field; a name seen before in this record gets `[2]`, `[3]`, ... (UserData
    /// repeats elements: `<Header>` once per HTTP header).
    private mutating func append(_ name: String, _ value: String) {
        guard event.data.count < Self.maxFields else { return }
        var key = name
        if event.data.contains(where: { $0.name == name }) {
            let seen = (repeats[name] ?? 1) + 1
            repeats[name] = seen
            key = "\(name)[\(seen)]"
        }
        event.data.append(WindowsEvent.Field(name: key, value: value))
    }

    private mutating func finishAttribute() {
        guard attribute != .none else { return }
        switch attribute {
        case .providerName: event.provider = attributeText
        case .eventSourceName: eventSourceName = attributeText
        case .systemTime: timeText = attributeText
        case .dataName: if !stack.isEmpty { stack[stack.count - 1].dataName = attributeText }
        case .userID: event.userID = attributeText
        case .userDataField: append(attributeName, attributeText)
        case .none, .skipped: break
        }
        attribute = .none
        attributeText = ""
    }

    /// The event, with the record header's id and time where the XML gave none.
    mutating func finish(recordID: UInt64, headerMicroseconds: Int64) -> WindowsEvent {
        finishAttribute()
        if event.provider.isEmpty { event.provider = eventSourceName }
        event.recordID = UInt64(eventRecordIDText) ?? recordID
        if !timeText.isEmpty, let micros = EventTime.microseconds(iso8601: timeText) {
            event.timeMicroseconds = micros
        } else if event.timeMicroseconds == 0 {
            event.timeMicroseconds = headerMicroseconds
        }
        return event
    }
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\r" || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\r" || l == "\t" { s.removeLast() }
        return s
    }
}

/// Times as event XML writes them.
enum EventTime {
    /// `2016-07-08T18:12:51.6816408Z` (any number of fraction digits; a `Z` or an offset, or
    /// none for UTC) as microseconds since the Unix epoch.
    static func microseconds(iso8601 text: String) -> Int64? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for i in from..<(from + n) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), b.count >= 19, b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2),
              b[10] == 0x54 || b[10] == 0x20, let h = num(11, 2), b[13] == 0x3A, let mi = num(14, 2), b[16] == 0x3A,
              let s = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var micros = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 6 { micros = micros * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        var offset = 0
        if i < b.count, b[i] == 0x2B || b[i] == 0x2D {
            guard let oh = num(i + 1, 2), let om = num(i + 4, 2) else { return nil }
            offset = (oh * 60 + om) * 60 * (b[i] == 0x2D ? -1 : 1)
        }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
        return seconds * 1_000_000 + Int64(micros)
    }
}
