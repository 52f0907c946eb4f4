import Wire

/// An element or attribute name, with what it is to the collector worked out once (EVTX
/// names are decoded once per chunk; comparing text per element cost a tenth of the time).
struct XMLName {
    enum Known: UInt8 {
        case other, event, system, eventData, userData, provider, eventID, channel, computer, timeCreated
        case security, eventRecordID, data, name, eventSourceName, systemTime, userID, xmlns
    }

    let text: String
    let known: Known

    init(_ text: String) {
        self.text = text
        switch text {
        case "Event": known = .event
        case "System": known = .system
        case "EventData": known = .eventData
        case "UserData": known = .userData
        case "Provider": known = .provider
        case "EventID": known = .eventID
        case "Channel": known = .channel
        case "Computer": known = .computer
        case "TimeCreated": known = .timeCreated
        case "Security": known = .security
        case "EventRecordID": known = .eventRecordID
        case "Data": known = .data
        case "Name": known = .name
        case "EventSourceName": known = .eventSourceName
        case "SystemTime": known = .systemTime
        case "UserID": known = .userID
        default: known = text.hasPrefix("xmlns") ? .xmlns : .other
        }
    }
}

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

    /// An element's text: nothing, text, or one value still in the chunk (rendered only when
    /// asked for: `edge read-evtx --json` writes it straight from the chunk's bytes).
    enum Content {
        case empty
        case text(String)
        case value(BinXMLValue)

        func string(_ chunk: UnsafeRawBufferPointer) -> String {
            switch self {
            case .empty: ""
            case .text(let s): s
            case .value(let v): ValueText.render(v, in: chunk)
            }
        }

        var isEmpty: Bool {
            switch self {
            case .empty: true
            case .text(let s): s.isEmpty
            case .value(let v): v.isEmpty
            }
        }
    }

    struct RawField {
        var name: String
        var content: Content
    }

    /// The chunk whose values `.value` contents point into (EVTX); empty for XML.
    var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    /// The record's values, in order, before they are turned into text.
    private(set) var fields: [RawField] = []

    private struct Element {
        var place: Place
        var name: String
        var content: Content = .empty
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
    private var eventRecordID: UInt64?
    private var timeText = ""
    /// Text kept for this record so far. Templates can repeat a value many times; what one
    /// record can make the collector hold is bounded by `maxRecordText` and `maxFields`.
    private var keptBytes = 0
    private var repeats: [String: Int] = [:]
    private var marks: UInt64 = 0
    /// Open elements inside one the event has no use for (0: none).
    private var ignoredDepth = 0

    static let maxRecordText = 256 << 10
    /// The most one value keeps; the rest of a longer one is dropped.
    static let maxFieldText = 32 << 10
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
        fields.removeAll(keepingCapacity: true)
        eventSourceName = ""
        eventRecordIDText = ""
        eventRecordID = nil
        timeText = ""
        keptBytes = 0
        if !repeats.isEmpty { repeats.removeAll() }
        marks = 0
        ignoredDepth = 0
    }

    /// Whether the text or value arriving now is kept.
    var wantsValue: Bool {
        guard ignoredDepth == 0, keptBytes < Self.maxRecordText else { return false }
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

    mutating func open(_ name: XMLName) {
        open(name.known, name.text)
    }

    /// `text` is asked for only when the element's name becomes a field name.
    mutating func open(_ known: XMLName.Known, _ text: @autoclosure () -> String) {
        finishAttribute()
        if ignoredDepth > 0 {
            ignoredDepth += 1
            return
        }
        let parent = stack.last?.place
        if !stack.isEmpty { stack[stack.count - 1].hasChildren = true }
        let place: Place
        switch parent {
        case nil: place = known == .event ? .event : .ignored
        case .event?:
            switch known {
            case .system: place = .system
            case .eventData: place = .eventData
            case .userData: place = .userData
            default: place = .ignored
            }
        case .system?:
            switch known {
            case .provider: place = .provider
            case .eventID: place = .eventID
            case .channel: place = .channel
            case .computer: place = .computer
            case .timeCreated: place = .timeCreated
            case .security: place = .security
            case .eventRecordID: place = .eventRecordID
            default: place = .ignored
            }
        case .eventData?: place = known == .data ? .data : .dataField
        case .userData?: place = .userDataRecord
        case .userDataRecord?, .userDataField?: place = .userDataField
        default: place = .ignored
        }
        // Elements the event has no use for (Version, Keywords, Execution, RenderingInfo, ...)
        // are only counted, with what is inside them.
        if place == .ignored, !stack.isEmpty {
            ignoredDepth = 1
            return
        }
        // Only fields named by their element keep the name.
        stack.append(Element(place: place, name: place == .dataField || place == .userDataField ? text() : ""))
    }

    mutating func attribute(_ name: XMLName) {
        attribute(name.known, name.text)
    }

    mutating func attribute(_ known: XMLName.Known, _ text: @autoclosure () -> String) {
        finishAttribute()
        guard ignoredDepth == 0, let top = stack.last else {
            attribute = .skipped
            return
        }
        stack[stack.count - 1].hasAttributes = true
        switch (top.place, known) {
        case (.provider, .name): attribute = .providerName
        case (.provider, .eventSourceName): attribute = .eventSourceName
        case (.timeCreated, .systemTime): attribute = .systemTime
        case (.data, .name): attribute = .dataName
        case (.security, .userID): attribute = .userID
        case (.userDataRecord, .xmlns), (.userDataField, .xmlns): attribute = .skipped
        case (.userDataRecord, _), (.userDataField, _):
            // UserData often says it in attributes: <EventAuxInfo ProcessName="Setup.exe"/>.
            attribute = .userDataField
            attributeName = text()
        default: attribute = .skipped
        }
        attributeText = ""
    }

    mutating func value(_ text: String) {
        guard keptBytes < Self.maxRecordText, attribute != .skipped else { return }
        if attribute != .none {
            guard attributeText.utf8.count < Self.maxFieldText else { return }
            keptBytes += text.utf8.count
            attributeText += text
        } else if !stack.isEmpty, wantsValue {
            let i = stack.count - 1
            // Appended in place (`s + text` copied the whole value each time: a template
            // repeating a short literal made a chunk cost minutes), up to `maxFieldText`.
            var current: String
            switch stack[i].content {
            case .empty: current = ""
            case .text(let s): current = s
            case .value(let v): current = ValueText.render(v, in: chunk)
            }
            stack[i].content = .empty
            guard current.utf8.count < Self.maxFieldText else {
                stack[i].content = .text(current)
                return
            }
            keptBytes += text.utf8.count
            current += text
            stack[i].content = .text(current)
        }
    }

    /// A value of the chunk in element content, kept as it is until asked for.
    mutating func value(raw v: BinXMLValue) {
        guard keptBytes < Self.maxRecordText, attribute == .none, !stack.isEmpty, wantsValue else { return }
        keptBytes += v.count
        let i = stack.count - 1
        if case .empty = stack[i].content {
            stack[i].content = .value(v)
        } else {
            let text = ValueText.render(v, in: chunk)
            keptBytes -= v.count
            value(text)
        }
    }

    var inAttribute: Bool { attribute != .none }

    /// An array in element content: the element once per item, as Windows renders it.
    mutating func values(_ items: [String]) {
        guard let top = stack.last else { return }
        for (k, item) in items.enumerated() {
            if k > 0 {
                end()
                finishAttribute()
                stack[stack.count - 1].hasChildren = true
                stack.append(Element(place: top.place, name: top.name, dataName: top.dataName))
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
        if ignoredDepth > 0 {
            ignoredDepth -= 1
            return
        }
        guard let element = stack.popLast() else { return }
        switch element.place {
        case .eventID:
            if case .value(let v) = element.content, v.type == 0x06, v.count >= 2 {
                event.eventID = UInt32(chunk.le(v.start, as: UInt16.self))
            } else {
                event.eventID = UInt32(element.content.string(chunk).trimmingSpaces) ?? 0
            }
        case .channel: event.channel = element.content.string(chunk)
        case .computer: event.computer = element.content.string(chunk)
        case .eventRecordID:
            if case .value(let v) = element.content, v.type == 0x0a, v.count >= 8 {
                eventRecordID = chunk.le(v.start, as: UInt64.self)
            } else {
                eventRecordIDText = element.content.string(chunk)
            }
        case .data:
            if let name = element.dataName, !name.isEmpty {
                append(name, element.content)
            } else {
                unnamedData += 1
                append("Data[\(unnamedData)]", element.content)
            }
        case .dataField, .userDataField:
            // A leaf, unless it said everything in its attributes.
            if !element.hasChildren, !element.content.isEmpty || !element.hasAttributes { append(element.name, element.content) }
        default: break
        }
    }

    /// Adds a field; a name seen before in this record gets `[2]`, `[3]`, ... (UserData
    /// repeats elements: `<Header>` once per HTTP header).
    private mutating func append(_ name: String, _ value: String) {
        append(name, .text(value))
    }

    private mutating func append(_ name: String, _ content: Content) {
        guard fields.count < Self.maxFields else { return }
        var key = name
        // A cheap mark per name (length, first and last byte) rules out most repeats before
        // any comparison.
        let utf8 = name.utf8
        let mark = UInt64(1) << ((UInt64(utf8.count) &* 31 &+ UInt64(utf8.first ?? 0) &* 7 &+ UInt64(utf8.last ?? 0)) & 63)
        let maybeSeen = marks & mark != 0
        marks |= mark
        if maybeSeen, fields.contains(where: { $0.name == name }) {
            let seen = (repeats[name] ?? 1) + 1
            repeats[name] = seen
            key = "\(name)[\(seen)]"
        }
        fields.append(RawField(name: key, content: content))
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
        finishSystem(recordID: recordID, headerMicroseconds: headerMicroseconds)
        event.data = fields.map { WindowsEvent.Field(name: $0.name, value: $0.content.string(chunk)) }
        return event
    }

    /// The System fields settled (the values stay as they are).
    mutating func finishSystem(recordID: UInt64, headerMicroseconds: Int64) {
        finishAttribute()
        if event.provider.isEmpty { event.provider = eventSourceName }
        event.recordID = eventRecordID ?? UInt64(eventRecordIDText) ?? recordID
        if !timeText.isEmpty, let micros = EventTime.microseconds(iso8601: timeText) {
            event.timeMicroseconds = micros
        } else if event.timeMicroseconds == 0 {
            event.timeMicroseconds = headerMicroseconds
        }
    }

    /// `WindowsEvent.appendJSON`, with the values written from the chunk's bytes: no string
    /// per value. After `finishSystem`.
    func appendJSON(to out: inout [UInt8]) {
        event.appendJSONHead(to: &out)
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Event.appendQuoted(field.name, to: &out)
            out.append(UInt8(ascii: ":"))
            switch field.content {
            case .empty: out.append(contentsOf: [0x22, 0x22])
            case .text(let s): Event.appendQuoted(s, to: &out)
            case .value(let v): ValueText.appendJSON(v, in: chunk, to: &out)
            }
        }
        out.append(contentsOf: "}}".utf8)
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
