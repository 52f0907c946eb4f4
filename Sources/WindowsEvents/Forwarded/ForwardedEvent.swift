/// Windows events as the forwarders Windows shops already run send them in syslog, each
/// recognised from the message alone, without configuration:
///
/// - **NXLog** (`im_msvistalog` with `to_json()`): one JSON object with `EventID`,
///   `Hostname`, `SourceName`, `Channel`, `RecordNumber`, `EventTime`, and the event's data
///   as members of their own (`TargetUserName`, `IpAddress`, ...).
/// - **Winlogbeat** (ECS, passed on as JSON by Logstash or a file shipper): `winlog.event_id`,
///   `winlog.channel`, `winlog.provider_name`, `winlog.computer_name`, `winlog.record_id`,
///   `winlog.event_data.*`, `winlog.user_data.*`, `@timestamp`.
/// - **Snare** (`MSWinEventLog`, tab-separated): log name, date, event id, source, user,
///   computer, category, and the rendered message, whose "Label: value" pairs are read back
///   into the event's data names (`Account Name` under `New Logon:` is `TargetUserName`).
package enum ForwardedEvent {
    /// The event a syslog message's text carries, or nil when it is none of the forms.
    package static func parse(_ message: UnsafeBufferPointer<UInt8>) -> WindowsEvent? {
        var start = 0
        while start < message.count, message[start] == 0x20 || message[start] == 0x09 { start += 1 }
        // A byte-order mark some senders put before the text (RFC 5424's BOM).
        if message.count - start >= 3, message[start] == 0xEF, message[start + 1] == 0xBB, message[start + 2] == 0xBF { start += 3 }
        let text = UnsafeBufferPointer(rebasing: message[start...])
        if text.first == UInt8(ascii: "{") {
            guard let json = FlatJSON(text) else { return nil }
            return winlogbeat(json) ?? nxlog(json)
        }
        return Snare.parse(text)
    }

    package static func parse(_ message: String) -> WindowsEvent? {
        var copy = message
        return copy.withUTF8 { parse($0) }
    }

    static func winlogbeat(_ json: FlatJSON) -> WindowsEvent? {
        guard let id = json["winlog.event_id"].flatMap({ UInt32($0) }) else { return nil }
        var event = WindowsEvent(
            recordID: json["winlog.record_id"].flatMap { UInt64($0) } ?? 0, eventID: id,
            channel: json["winlog.channel"] ?? "", provider: json["winlog.provider_name"] ?? json["event.provider"] ?? "",
            computer: json["winlog.computer_name"] ?? json["host.name"] ?? json["host.hostname"] ?? "",
            timeMicroseconds: json["@timestamp"].flatMap(EventTime.microseconds(iso8601:)) ?? 0,
            userID: json["winlog.user.identifier"] ?? "")
        for (path, value) in json.members {
            for prefix in ["winlog.event_data.", "winlog.user_data."] where path.hasPrefix(prefix) {
                event.data.append(.init(name: String(path.dropFirst(prefix.count)), value: value))
            }
        }
        return event
    }

    /// NXLog's own fields, which are not the event's data.
    static let nxlogFields: Set<String> = [
        "EventTime", "Hostname", "Keywords", "EventType", "SeverityValue", "Severity", "EventID", "SourceName", "ProviderGuid",
        "Version", "Task", "OpcodeValue", "RecordNumber", "ActivityID", "RelatedActivityID", "ProcessID", "ThreadID", "Channel",
        "Domain", "AccountName", "UserID", "AccountType", "Message", "Category", "Opcode", "EventReceivedTime", "SourceModuleName",
        "SourceModuleType", "Level", "ERRORCODE", "MessageSourceAddress",
    ]

    static func nxlog(_ json: FlatJSON) -> WindowsEvent? {
        guard let id = json["EventID"].flatMap({ UInt32($0) }), json["SourceName"] != nil || json["Channel"] != nil else { return nil }
        var event = WindowsEvent(
            recordID: json["RecordNumber"].flatMap { UInt64($0) } ?? 0, eventID: id,
            channel: json["Channel"] ?? "", provider: json["SourceName"] ?? "", computer: json["Hostname"] ?? "",
            // NXLog writes EventTime in local time without a zone unless configured otherwise:
            // only a time with its zone is taken; else the syslog header's.
            timeMicroseconds: json["EventTime"].flatMap { Self.hasZone($0) ? EventTime.microseconds(iso8601: $0) : nil } ?? 0,
            userID: json["UserID"] ?? "")
        for (path, value) in json.members where !path.contains(".") && !nxlogFields.contains(path) {
            event.data.append(.init(name: path, value: value))
        }
        return event
    }

    static func hasZone(_ time: String) -> Bool {
        guard time.utf8.count > 19 else { return false }
        let tail = time.utf8.dropFirst(19)
        return tail.contains(UInt8(ascii: "Z")) || tail.contains(UInt8(ascii: "+")) || tail.contains(UInt8(ascii: "-"))
    }
}
