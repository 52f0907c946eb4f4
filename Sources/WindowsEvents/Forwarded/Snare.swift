import Wire

/// Snare's `MSWinEventLog` records: tab-separated fields after the tag (criticality, log
/// name, Snare's counter, date, event id, source, user, SID type, event type, computer,
/// category, data, the rendered message, and a checksum or counter), as Snare for Windows
/// writes them to syslog.
///
/// Snare sends the message Windows renders, not the event's data. Its "Label: value" pairs
/// are read back into the data names the rules use, by the section they stand in:
/// `Account Name:` under `Subject:` is `SubjectUserName`, under `New Logon:` or
/// `Account For Which Logon Failed:` it is `TargetUserName`, under `Member:` `MemberName`.
/// A value ends at the next label Snare's reader knows, or at three spaces (the line break
/// and indent Windows puts after each value, which Snare writes as spaces).
enum Snare {
    static let tag = Array("MSWinEventLog".utf8)
    static let maxMessageBytes = 16 << 10

    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> WindowsEvent? {
        // The tag, then a tab (or the configured delimiter: a tab is Snare's default).
        guard let at = ByteSearch.firstIndex(of: tag, in: text), at + tag.count < text.count, text[at + tag.count] == 0x09 else { return nil }
        let rest = String(decoding: UnsafeBufferPointer(rebasing: text[(at + tag.count + 1)...]), as: UTF8.self)
        let fields = rest.split(separator: "\t", maxSplits: 14, omittingEmptySubsequences: false)
        guard fields.count >= 13, let id = UInt32(fields[4].trimming(" ")) else { return nil }
        var event = WindowsEvent(
            recordID: 0, eventID: id, channel: String(fields[1]), provider: String(fields[5]),
            computer: String(fields[9]).trimming(" "))
        event.data = Self.fields(ofMessage: String(fields[12]))
        return event
    }

    enum Section { case none, subject, target, member, group, network, failure, service, task, other }

    static let sections: [(String, Section)] = [
        ("Subject:", .subject), ("New Logon:", .target), ("Account For Which Logon Failed:", .target), ("Target Account:", .target),
        ("New Account:", .target), ("Account Whose Credentials Were Used:", .target), ("Account That Was Locked Out:", .target),
        ("Account Information:", .target), ("Member:", .member), ("Group:", .group), ("Network Information:", .network),
        ("Failure Information:", .failure), ("Service Information:", .service), ("Task Information:", .task),
        ("Logon Information:", .none), ("Detailed Authentication Information:", .none), ("Process Information:", .other),
        ("Additional Information:", .none), ("Target Server:", .other), ("Attributes:", .other), ("Impersonation Level:", .other),
        ("Privileges:", .other), ("Changed Attributes:", .other), ("Log Information:", .other),
    ]

    static let labels = [
        "Security ID:", "Account Name:", "Account Domain:", "Domain Name:", "Logon ID:", "Logon Type:", "Group Name:",
        "Group Domain:", "Workstation Name:", "Source Network Address:", "Source Port:", "Network Address:", "Port:",
        "Failure Reason:", "Status:", "Sub Status:", "Authentication Package:", "Logon Process:", "Service Name:",
        "Service File Name:", "Service Type:", "Service Start Type:", "Service Account:", "Task Name:",
        "Caller Computer Name:", "Process Name:", "Process ID:", "Caller Process Name:", "Caller Process ID:", "Target Server Name:",
    ]

    /// The data name a label has in a section, when the rules have a use for it.
    static func name(_ label: String, in section: Section) -> [String] {
        switch (section, label) {
        case (.subject, "Security ID:"): ["SubjectUserSid"]
        case (.subject, "Account Name:"): ["SubjectUserName"]
        case (.subject, "Account Domain:"), (.subject, "Domain Name:"): ["SubjectDomainName"]
        case (.subject, "Logon ID:"): ["SubjectLogonId"]
        case (.target, "Security ID:"): ["TargetUserSid", "TargetSid"]
        case (.target, "Account Name:"): ["TargetUserName"]
        case (.target, "Account Domain:"), (.target, "Domain Name:"): ["TargetDomainName"]
        case (.target, "Logon ID:"): ["TargetLogonId"]
        case (.member, "Security ID:"): ["MemberSid"]
        case (.member, "Account Name:"): ["MemberName"]
        case (.group, "Security ID:"): ["TargetSid"]
        case (.group, "Group Name:"), (.group, "Account Name:"): ["TargetUserName"]
        case (.group, "Group Domain:"), (.group, "Account Domain:"): ["TargetDomainName"]
        case (.network, "Workstation Name:"): ["WorkstationName"]
        case (.network, "Source Network Address:"), (.network, "Network Address:"): ["IpAddress"]
        case (.network, "Source Port:"), (.network, "Port:"): ["IpPort"]
        case (.failure, "Failure Reason:"): ["FailureReason"]
        case (.failure, "Status:"): ["Status"]
        case (.failure, "Sub Status:"): ["SubStatus"]
        case (_, "Logon Type:"): ["LogonType"]
        case (_, "Authentication Package:"): ["AuthenticationPackageName"]
        case (_, "Logon Process:"): ["LogonProcessName"]
        case (_, "Service Name:"): ["ServiceName"]
        case (.service, "Service File Name:"): ["ServiceFileName"]
        case (_, "Service File Name:"): ["ImagePath"]
        case (_, "Service Account:"): ["AccountName"]
        case (_, "Task Name:"): ["TaskName"]
        case (_, "Caller Computer Name:"): ["CallerComputerName"]
        default: []
        }
    }

    /// The labelled values of a rendered message, in order. Labels are found longest first
    /// (so `Status:` inside `Sub Status:` is not one); a value runs to the next label or
    /// section. Linear in the message for each label (a fixed list), over its first
    /// `maxMessageBytes`.
    static func fields(ofMessage message: String) -> [WindowsEvent.Field] {
        // The labels worth reading come first; the rest of a message is Windows' explanation.
        // Reading 16 KiB at most keeps a crafted 64 KiB record to about a million comparisons.
        let bytes = Array(message.utf8.prefix(maxMessageBytes))
        var marks: [(start: Int, end: Int, label: String?, section: Section?)] = []
        var covered = [Bool](repeating: false, count: bytes.count)
        let all = labels.map { ($0, nil as Section?) } + sections.map { ($0.0, $0.1 as Section?) }
        for (text, section) in all.sorted(by: { $0.0.utf8.count > $1.0.utf8.count }) {
            let needle = Array(text.utf8)
            var i = 0
            while i + needle.count <= bytes.count {
                if bytes[i] == needle[0], !covered[i], needle.indices.allSatisfy({ bytes[i + $0] == needle[$0] }),
                   i == 0 || bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09 || bytes[i - 1] == 0x0A || bytes[i - 1] == 0x0D {
                    for k in i..<(i + needle.count) { covered[k] = true }
                    marks.append((i, i + needle.count, section == nil ? text : nil, section))
                    i += needle.count
                } else {
                    i += 1
                }
            }
        }
        marks.sort { $0.start < $1.start }
        var result: [WindowsEvent.Field] = []
        var section = Section.none
        for (k, mark) in marks.enumerated() {
            if let s = mark.section {
                section = s
                continue
            }
            guard let label = mark.label else { continue }
            var end = k + 1 < marks.count ? marks[k + 1].start : bytes.count
            // Windows ends a value with a line break and the next line's indent, which Snare
            // turns into three spaces: an unknown label after a value does not join it.
            var i = mark.end
            while i < end, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            while i + 2 < end {
                if bytes[i] == 0x20, bytes[i + 1] == 0x20, bytes[i + 2] == 0x20 {
                    end = i
                    break
                }
                i += 1
            }
            let value = String(decoding: bytes[mark.end..<end], as: UTF8.self).trimming(" \t\r\n")
            // The last of a label in its section wins: Windows writes the genuine labels after
            // the values a client chooses (a Workstation Name of "x Source Network Address:
            // 192.0.2.9" comes before the real address).
            for name in self.name(label, in: section) {
                if let i = result.firstIndex(where: { $0.name == name }) {
                    result[i].value = value
                } else {
                    result.append(.init(name: name, value: value))
                }
            }
        }
        return result
    }
}

extension StringProtocol {
    /// Without the given characters at either end.
    func trimming(_ set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}
