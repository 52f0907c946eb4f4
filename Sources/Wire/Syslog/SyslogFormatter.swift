/// Writes syslog text.
public enum SyslogFormatter {
    /// RFC 5424 text. Header fields are cut to their maximum lengths and anything outside
    /// PRINTUSASCII becomes `?`, so the output always parses; PARAM-VALUEs are escaped.
    public static func rfc5424(_ m: SyslogMessage) -> String {
        var out = "<\((m.facility ?? 1) * 8 + (m.severity ?? 5))>1 "
        out += m.timestamp?.rfc3339 ?? "-"
        out += " " + headerField(m.hostname, 255)
        out += " " + headerField(m.appName, 48)
        out += " " + headerField(m.procID, 128)
        out += " " + headerField(m.msgID, 32)
        out += " "
        if m.structuredData.isEmpty {
            out += "-"
        } else {
            for element in m.structuredData {
                out += "[" + sdName(element.id)
                for p in element.parameters {
                    out += " " + sdName(p.name) + "=\"" + escape(p.value) + "\""
                }
                out += "]"
            }
        }
        if !m.message.isEmpty || m.hasBOM {
            out += " "
            if m.hasBOM { out += "\u{FEFF}" }
            out += m.message
        }
        return out
    }

    /// BSD text as rsyslog forwards it: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, the
    /// time in UTC.
    public static func rfc3164(_ m: SyslogMessage) -> String {
        var out = ""
        if m.facility != nil || m.severity != nil {
            out += "<\((m.facility ?? 1) * 8 + (m.severity ?? 5))>"
        }
        if let t = m.timestamp {
            out += bsdTime(microseconds: t.microseconds) + " "
        }
        if let host = m.hostname { out += host + " " }
        if let app = m.appName {
            out += app
            if let pid = m.procID { out += "[\(pid)]" }
            out += ": "
        }
        return out + m.message
    }

    static func bsdTime(microseconds: Int64) -> String {
        let seconds = BSDYearInference.floorDiv(microseconds, 1_000_000)
        let days = BSDYearInference.floorDiv(seconds, 86_400)
        let sod = Int(seconds - days * 86_400)
        let (_, month, day) = CivilDate.civil(fromDays: days)
        let names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let dayText = day < 10 ? " \(day)" : "\(day)"
        return "\(names[month - 1]) \(dayText) \(SyslogTimestamp.pad(sod / 3600, 2)):\(SyslogTimestamp.pad(sod / 60 % 60, 2)):\(SyslogTimestamp.pad(sod % 60, 2))"
    }

    static func headerField(_ value: String?, _ max: Int) -> String {
        guard let value, !value.isEmpty else { return "-" }
        let cleaned = value.utf8.prefix(max).map { $0 >= 33 && $0 <= 126 ? $0 : UInt8(ascii: "?") }
        return String(decoding: cleaned, as: UTF8.self)
    }

    static func sdName(_ value: String) -> String {
        let cleaned = value.utf8.prefix(32).map { b -> UInt8 in
            (b >= 33 && b <= 126 && b != UInt8(ascii: "=") && b != UInt8(ascii: "]") && b != 0x22) ? b : UInt8(ascii: "_")
        }
        return cleaned.isEmpty ? "_" : String(decoding: cleaned, as: UTF8.self)
    }

    /// Escapes `"`, `\` and `]` in a PARAM-VALUE.
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for ch in value.unicodeScalars {
            if ch == "\"" || ch == "\\" || ch == "]" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(ch)
        }
        return out
    }
}
