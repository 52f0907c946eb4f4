public import Foundation

/// A point in time as syslog writes it: microseconds since the Unix epoch (UTC), the UTC
/// offset the sender wrote, and how many fraction digits it wrote (so formatting returns
/// the same text).
public struct SyslogTimestamp: Hashable, Sendable {
    public var microseconds: Int64
    public var utcOffsetSeconds: Int32
    public var fractionDigits: Int

    public init(microseconds: Int64, utcOffsetSeconds: Int32 = 0, fractionDigits: Int = 6) {
        self.microseconds = microseconds
        self.utcOffsetSeconds = utcOffsetSeconds
        self.fractionDigits = fractionDigits
    }

    /// RFC 3339 text: `2003-08-24T05:14:15.000003-07:00`, or `...Z` at offset zero.
    public var rfc3339: String {
        var text = Self.localText(microseconds: microseconds &+ Int64(utcOffsetSeconds) * 1_000_000, fractionDigits: fractionDigits)
        if utcOffsetSeconds == 0 {
            text.append("Z")
        } else {
            let minutes = abs(Int(utcOffsetSeconds)) / 60
            text.append(utcOffsetSeconds < 0 ? "-" : "+")
            text.append(Self.pad(minutes / 60, 2))
            text.append(":")
            text.append(Self.pad(minutes % 60, 2))
        }
        return text
    }

    /// ISO 8601 UTC with `fractionDigits` digits and a `Z`.
    public static func iso8601UTC(microseconds: Int64, fractionDigits: Int = 6) -> String {
        localText(microseconds: microseconds, fractionDigits: fractionDigits) + "Z"
    }

    /// Appends `iso8601UTC(microseconds:fractionDigits: 6)`'s bytes to `out` without making
    /// Strings (every event written as JSON has a time: the edge's journal, `test-rules --json`).
    public static func appendISO8601UTC(microseconds: Int64, to out: inout [UInt8]) {
        out.appendJSON(bound: iso8601Bound) { writeISO8601UTC(microseconds: microseconds, to: &$0) }
    }

    /// Room for what `writeISO8601UTC` writes: 27 bytes for years 0 to 9999, 30 at most
    /// (`-290308-12-21T19:59:05.224192Z` for Int64.min microseconds).
    static let iso8601Bound = 48

    static func writeISO8601UTC(microseconds: Int64, to w: inout JSONWriter) {
        let (seconds, micros) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        let adjustedSeconds = micros < 0 ? seconds - 1 : seconds
        let fraction = Int(micros < 0 ? micros + 1_000_000 : micros)
        let (days, secondOfDay) = adjustedSeconds.quotientAndRemainder(dividingBy: 86_400)
        let day = secondOfDay < 0 ? days - 1 : days
        let sod = Int(secondOfDay < 0 ? secondOfDay + 86_400 : secondOfDay)
        let (y, m, d) = CivilDate.civil(fromDays: day)
        guard (0...9999).contains(y) else {
            let text = iso8601UTC(microseconds: microseconds)
            text.utf8.prefix(iso8601Bound).withContiguousStorageIfAvailable { w.raw($0) } ?? Array(text.utf8.prefix(iso8601Bound)).withUnsafeBufferPointer { w.raw($0) }
            return
        }
        w.digits(Int(y), width: 4)
        w.byte(UInt8(ascii: "-"))
        w.digits(m, width: 2)
        w.byte(UInt8(ascii: "-"))
        w.digits(d, width: 2)
        w.byte(UInt8(ascii: "T"))
        w.digits(sod / 3600, width: 2)
        w.byte(UInt8(ascii: ":"))
        w.digits(sod / 60 % 60, width: 2)
        w.byte(UInt8(ascii: ":"))
        w.digits(sod % 60, width: 2)
        w.byte(UInt8(ascii: "."))
        w.digits(fraction, width: 6)
        w.byte(UInt8(ascii: "Z"))
    }

    private static func localText(microseconds: Int64, fractionDigits: Int) -> String {
        let (seconds, micros) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        let adjustedSeconds = micros < 0 ? seconds - 1 : seconds
        let adjustedMicros = micros < 0 ? micros + 1_000_000 : micros
        let (days, secondOfDay) = adjustedSeconds.quotientAndRemainder(dividingBy: 86_400)
        let day = secondOfDay < 0 ? days - 1 : days
        let sod = secondOfDay < 0 ? secondOfDay + 86_400 : secondOfDay
        let (y, m, d) = CivilDate.civil(fromDays: day)
        var text = "\(pad(Int(y), 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(sod / 3600), 2)):\(pad(Int(sod / 60 % 60), 2)):\(pad(Int(sod % 60), 2))"
        if fractionDigits > 0 {
            let digits = min(fractionDigits, 6)
            var fraction = Int(adjustedMicros)
            for _ in digits..<6 { fraction /= 10 }
            text.append(".")
            text.append(pad(fraction, digits))
        }
        return text
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

/// Proleptic Gregorian calendar arithmetic (H. Hinnant's days-from-civil algorithms).
package enum CivilDate {
    package static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    package static func civil(fromDays z0: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month: Int, year: Int64) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Turns the year-less BSD timestamp (`Nov 29 16:10:15`) into a full time.
///
/// The year is the latest one that puts the line no later than a day after `reference`: log
/// lines come from the past, so a December line read in January belongs to last year,
/// while a line a few seconds past New Year on a sender whose clock runs ahead still lands
/// in the new year. Feb 29 only matches leap years.
public struct BSDYearInference: Sendable {
    /// The time the line is known to be no later than (now, or a file's modification time).
    public var referenceMicroseconds: Int64
    /// The sender's time zone: BSD timestamps carry none.
    public var timeZone: TimeZone

    public init(referenceMicroseconds: Int64, timeZone: TimeZone) {
        self.referenceMicroseconds = referenceMicroseconds
        self.timeZone = timeZone
    }

    public func resolve(month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        let referenceDate = Date(timeIntervalSince1970: Double(referenceMicroseconds) / 1e6)
        let referenceLocal = referenceMicroseconds / 1_000_000 + Int64(timeZone.secondsFromGMT(for: referenceDate))
        let referenceYear = CivilDate.civil(fromDays: Self.floorDiv(referenceLocal, 86_400)).year
        let limit = referenceMicroseconds + 86_400_000_000
        for year in [referenceYear + 1, referenceYear, referenceYear - 1, referenceYear - 2, referenceYear - 3, referenceYear - 4] {
            guard day <= CivilDate.daysIn(month: month, year: year) else { continue }
            let localSeconds = CivilDate.days(year: year, month: month, day: day) * 86_400
                + Int64(hour * 3600 + minute * 60 + second)
            let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds)))
            let micros = (localSeconds - Int64(offset)) * 1_000_000
            if micros <= limit { return micros }
        }
        return nil
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
