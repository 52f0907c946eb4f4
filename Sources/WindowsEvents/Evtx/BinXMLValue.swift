import Wire

/// A substitution value: its type and where its bytes are in the chunk. Rendered to text only
/// when the event keeps it.
struct BinXMLValue {
    var type: UInt8
    var start: Int
    var count: Int

    static let null: UInt8 = 0x00
    static let string: UInt8 = 0x01
    static let binXML: UInt8 = 0x21
    static let arrayFlag: UInt8 = 0x80

    var isEmpty: Bool { type == Self.null || count == 0 }
}

/// How Windows event values read as text. The forms follow the reference parser's (PyPI
/// `evtx`): hex integers as `0x` and lowercase digits, GUIDs in capitals without braces,
/// SIDs as `S-1-...`, times in ISO 8601 UTC, binary as capital hex.
enum ValueText {
    /// Microseconds between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
    static let fileTimeEpochOffsetMicroseconds: Int64 = 11_644_473_600_000_000

    /// FILETIME (100 ns since 1601) as microseconds since 1970.
    static func microseconds(fileTime: UInt64) -> Int64 {
        Int64(fileTime / 10) - fileTimeEpochOffsetMicroseconds
    }

    static func render(_ value: BinXMLValue, in chunk: UnsafeRawBufferPointer) -> String {
        let start = value.start
        let count = min(value.count, chunk.count - start)
        guard start >= 0, count > 0 else { return "" }
        let type = value.type
        if type & BinXMLValue.arrayFlag != 0 {
            return renderArray(element: type & ~BinXMLValue.arrayFlag, start: start, count: count, in: chunk).joined(separator: ",")
        }
        return renderScalar(type: type, start: start, count: count, in: chunk) ?? ""
    }

    /// One value of `type` in `count` bytes at `start`; nil when the bytes are too few.
    static func renderScalar(type: UInt8, start: Int, count: Int, in chunk: UnsafeRawBufferPointer) -> String? {
        @inline(__always) func need(_ n: Int) -> Bool { count >= n }
        switch type {
        case 0x00: return ""
        case 0x01: return utf16(chunk, start: start, units: count / 2)
        case 0x02: return ansi(chunk, start: start, count: count)
        case 0x03: return need(1) ? String(Int8(bitPattern: chunk[start])) : nil
        case 0x04: return need(1) ? String(chunk[start]) : nil
        case 0x05: return need(2) ? String(chunk.le(start, as: Int16.self)) : nil
        case 0x06: return need(2) ? String(chunk.le(start, as: UInt16.self)) : nil
        case 0x07: return need(4) ? String(chunk.le(start, as: Int32.self)) : nil
        case 0x08: return need(4) ? String(chunk.le(start, as: UInt32.self)) : nil
        case 0x09: return need(8) ? String(chunk.le(start, as: Int64.self)) : nil
        case 0x0a: return need(8) ? String(chunk.le(start, as: UInt64.self)) : nil
        case 0x0b: return need(4) ? String(Float(bitPattern: chunk.le(start, as: UInt32.self))) : nil
        case 0x0c: return need(8) ? String(Double(bitPattern: chunk.le(start, as: UInt64.self))) : nil
        case 0x0d: return need(4) ? (chunk.le(start, as: UInt32.self) != 0 ? "true" : "false") : nil
        case 0x0e: return hex(chunk, start: start, count: count)
        case 0x0f: return need(16) ? guid(chunk, start: start) : nil
        case 0x10:
            if count >= 8 { return "0x" + String(chunk.le(start, as: UInt64.self), radix: 16) }
            return need(4) ? "0x" + String(chunk.le(start, as: UInt32.self), radix: 16) : nil
        case 0x11:
            guard need(8) else { return nil }
            return SyslogTimestamp.iso8601UTC(microseconds: microseconds(fileTime: chunk.le(start, as: UInt64.self)))
        case 0x12: return need(16) ? systemTime(chunk, start: start) : nil
        case 0x13: return sid(chunk, start: start, count: count)
        case 0x14: return need(4) ? "0x" + String(chunk.le(start, as: UInt32.self), radix: 16) : nil
        case 0x15: return need(8) ? "0x" + String(chunk.le(start, as: UInt64.self), radix: 16) : nil
        default: return ""
        }
    }

    /// Arrays: strings separated by NUL characters; fixed-size values one after another. In
    /// element content each item is an element of its own (`<Data>a</Data><Data>b</Data>`, as
    /// Windows renders them); in an attribute they are joined by commas.
    static func renderArray(element: UInt8, start: Int, count: Int, in chunk: UnsafeRawBufferPointer) -> [String] {
        var parts: [String] = []
        switch element {
        case 0x01:
            var unitStart = start
            var i = start
            let end = start + count / 2 * 2
            while i < end {
                if chunk.le(i, as: UInt16.self) == 0 {
                    guard parts.count < 4096 else { break }
                    parts.append(utf16(chunk, start: unitStart, units: (i - unitStart) / 2))
                    unitStart = i + 2
                }
                i += 2
            }
            if unitStart < end { parts.append(utf16(chunk, start: unitStart, units: (end - unitStart) / 2)) }
        default:
            let size: Int
            switch element {
            case 0x03, 0x04: size = 1
            case 0x05, 0x06: size = 2
            case 0x07, 0x08, 0x0b, 0x0d, 0x14: size = 4
            case 0x09, 0x0a, 0x0c, 0x11, 0x15: size = 8
            case 0x0f, 0x12: size = 16
            case 0x10: size = 8
            default: return []
            }
            var i = start
            while i + size <= start + count, parts.count < 4096 {
                parts.append(renderScalar(type: element, start: i, count: size, in: chunk) ?? "")
                i += size
            }
        }
        return parts
    }

    /// UTF-16LE text, without the NUL characters that end it. ASCII (nearly all of it) is
    /// copied byte by byte into the string's storage.
    static func utf16(_ chunk: UnsafeRawBufferPointer, start: Int, units: Int) -> String {
        var n = max(0, min(units, (chunk.count - start) / 2))
        while n > 0, chunk.le(start + 2 * (n - 1), as: UInt16.self) == 0 { n -= 1 }
        if n == 0 { return "" }
        // One pass: copy while ASCII, and start over with the decoder at the first other unit.
        var ascii = true
        let text = String(unsafeUninitializedCapacity: n) { buffer in
            for i in 0..<n {
                let unit = chunk.le(start + 2 * i, as: UInt16.self)
                guard unit < 0x80 else {
                    ascii = false
                    return 0
                }
                buffer[i] = UInt8(truncatingIfNeeded: unit)
            }
            return n
        }
        if ascii { return text }
        var units = [UInt16](repeating: 0, count: n)
        for i in 0..<n { units[i] = chunk.le(start + 2 * i, as: UInt16.self) }
        return String(decoding: units, as: UTF16.self)
    }

    /// 8-bit text up to its first NUL, read as UTF-8 (invalid bytes become U+FFFD).
    static func ansi(_ chunk: UnsafeRawBufferPointer, start: Int, count: Int) -> String {
        var n = 0
        while n < count, chunk[start + n] != 0 { n += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: chunk[start..<(start + n)]), as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func hex(_ chunk: UnsafeRawBufferPointer, start: Int, count: Int) -> String {
        String(unsafeUninitializedCapacity: count * 2) { buffer in
            for i in 0..<count {
                let b = chunk[start + i]
                buffer[2 * i] = hexDigits[Int(b >> 4)]
                buffer[2 * i + 1] = hexDigits[Int(b & 15)]
            }
            return count * 2
        }
    }

    static func guid(_ chunk: UnsafeRawBufferPointer, start: Int) -> String {
        func h<T: FixedWidthInteger>(_ v: T, _ width: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let d1 = chunk.le(start, as: UInt32.self)
        let d2 = chunk.le(start + 4, as: UInt16.self)
        let d3 = chunk.le(start + 6, as: UInt16.self)
        return h(d1, 8) + "-" + h(d2, 4) + "-" + h(d3, 4) + "-"
            + hex(chunk, start: start + 8, count: 2) + "-" + hex(chunk, start: start + 10, count: 6)
    }

    static func systemTime(_ chunk: UnsafeRawBufferPointer, start: Int) -> String {
        func f(_ i: Int) -> Int { Int(chunk.le(start + 2 * i, as: UInt16.self)) }
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        // year, month, day of week, day, hour, minute, second, milliseconds
        return "\(pad(f(0), 4))-\(pad(f(1), 2))-\(pad(f(3), 2))T\(pad(f(4), 2)):\(pad(f(5), 2)):\(pad(f(6), 2)).\(pad(f(7), 3))Z"
    }

    /// `S-revision-authority-sub...`: revision, count, a 48-bit big-endian authority, then
    /// `count` little-endian 32-bit sub-authorities.
    static func sid(_ chunk: UnsafeRawBufferPointer, start: Int, count: Int) -> String? {
        guard count >= 8 else { return nil }
        let revision = chunk[start]
        let subCount = Int(chunk[start + 1])
        var authority: UInt64 = 0
        for i in 0..<6 { authority = authority << 8 | UInt64(chunk[start + 2 + i]) }
        guard count >= 8 + 4 * subCount else { return nil }
        var text = "S-\(revision)-\(authority)"
        for i in 0..<subCount {
            text += "-" + String(chunk.le(start + 8 + 4 * i, as: UInt32.self))
        }
        return text
    }
}

extension ValueText {
    private static let lowerHex = Array("0123456789abcdef".utf8)

    /// `render(value)` as a JSON string literal, written straight from the chunk's bytes for
    /// the common types (text, integers, hex, SIDs, GUIDs, times): the same text, no String.
    static func appendJSON(_ value: BinXMLValue, in chunk: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let start = value.start
        let count = min(value.count, chunk.count - start)
        guard start >= 0, count > 0, value.type & BinXMLValue.arrayFlag == 0 else {
            Event.appendQuoted(render(value, in: chunk), to: &out)
            return
        }
        out.append(0x22)
        switch value.type {
        case 0x01: appendJSONText(utf16At: start, units: count / 2, in: chunk, to: &out)
        case 0x03 where count >= 1: Event.appendDecimal(Int64(Int8(bitPattern: chunk[start])), to: &out)
        case 0x04 where count >= 1: Event.appendDecimal(Int64(chunk[start]), to: &out)
        case 0x05 where count >= 2: Event.appendDecimal(Int64(chunk.le(start, as: Int16.self)), to: &out)
        case 0x06 where count >= 2: Event.appendDecimal(Int64(chunk.le(start, as: UInt16.self)), to: &out)
        case 0x07 where count >= 4: Event.appendDecimal(Int64(chunk.le(start, as: Int32.self)), to: &out)
        case 0x08 where count >= 4: Event.appendDecimal(Int64(chunk.le(start, as: UInt32.self)), to: &out)
        case 0x09 where count >= 8: Event.appendDecimal(chunk.le(start, as: Int64.self), to: &out)
        case 0x14 where count >= 4: appendHex(UInt64(chunk.le(start, as: UInt32.self)), to: &out)
        case 0x15 where count >= 8: appendHex(chunk.le(start, as: UInt64.self), to: &out)
        case 0x10 where count >= 8: appendHex(chunk.le(start, as: UInt64.self), to: &out)
        case 0x10 where count >= 4: appendHex(UInt64(chunk.le(start, as: UInt32.self)), to: &out)
        case 0x11 where count >= 8:
            SyslogTimestamp.appendISO8601UTC(microseconds: microseconds(fileTime: chunk.le(start, as: UInt64.self)), to: &out)
        case 0x13 where count >= 8 && count >= 8 + 4 * Int(chunk[start + 1]):
            out.append(contentsOf: "S-".utf8)
            Event.appendDecimal(Int64(chunk[start]), to: &out)
            var authority: Int64 = 0
            for i in 0..<6 { authority = authority << 8 | Int64(chunk[start + 2 + i]) }
            out.append(UInt8(ascii: "-"))
            Event.appendDecimal(authority, to: &out)
            for i in 0..<Int(chunk[start + 1]) {
                out.append(UInt8(ascii: "-"))
                Event.appendDecimal(Int64(chunk.le(start + 8 + 4 * i, as: UInt32.self)), to: &out)
            }
        case 0x0f where count >= 16:
            // Data1, Data2, Data3 little-endian, then 8 bytes as they are; capitals.
            func put(_ v: UInt64, _ digits: Int) {
                for k in stride(from: digits - 1, through: 0, by: -1) { out.append(hexDigits[Int((v >> (4 * UInt64(k))) & 15)]) }
            }
            put(UInt64(chunk.le(start, as: UInt32.self)), 8)
            out.append(UInt8(ascii: "-"))
            put(UInt64(chunk.le(start + 4, as: UInt16.self)), 4)
            out.append(UInt8(ascii: "-"))
            put(UInt64(chunk.le(start + 6, as: UInt16.self)), 4)
            for i in 8..<16 {
                if i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(hexDigits[Int(chunk[start + i] >> 4)])
                out.append(hexDigits[Int(chunk[start + i] & 15)])
            }
        default:
            out.removeLast()
            Event.appendQuoted(render(value, in: chunk), to: &out)
            return
        }
        out.append(0x22)
    }

    /// `0x` and lowercase hex digits, no leading zeros.
    static func appendHex(_ v: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: [0x30, UInt8(ascii: "x")])
        var shift = 60
        while shift > 0, (v >> UInt64(shift)) & 15 == 0 { shift -= 4 }
        while shift >= 0 {
            out.append(lowerHex[Int((v >> UInt64(shift)) & 15)])
            shift -= 4
        }
    }

    /// UTF-16LE text as the inside of a JSON string: trailing NULs dropped, escapes as
    /// `Event.appendQuoted` writes them, unpaired surrogates as U+FFFD.
    static func appendJSONText(utf16At start: Int, units: Int, in chunk: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var n = max(0, min(units, (chunk.count - start) / 2))
        while n > 0, chunk.le(start + 2 * (n - 1), as: UInt16.self) == 0 { n -= 1 }
        // Most text is printable ASCII without quotes or backslashes: one pass to know, one
        // append of the low bytes.
        var plain = true
        for k in 0..<n {
            let u = chunk.le(start + 2 * k, as: UInt16.self)
            if u < 0x20 || u >= 0x7F || u == 0x22 || u == 0x5C {
                plain = false
                break
            }
        }
        if plain {
            // Grown once, then the low bytes written in place (no capacity check per byte).
            let first = out.count
            out.append(contentsOf: repeatElement(0, count: n))
            out.withUnsafeMutableBufferPointer { o in
                for k in 0..<n { o[first + k] = chunk[start + 2 * k] }
            }
            return
        }
        var i = 0
        while i < n {
            let u = UInt32(chunk.le(start + 2 * i, as: UInt16.self))
            i += 1
            switch u {
            case 0x22, 0x5C:
                out.append(0x5C)
                out.append(UInt8(truncatingIfNeeded: u))
            case 0x0A:
                out.append(0x5C)
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(0x5C)
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(0x5C)
                out.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                out.append(0x5C)
                out.append(UInt8(ascii: "u"))
                out.append(0x30)
                out.append(0x30)
                out.append(lowerHex[Int(u >> 4)])
                out.append(lowerHex[Int(u & 15)])
            case 0x20..<0x80: out.append(UInt8(truncatingIfNeeded: u))
            default:
                var scalar = u
                if (0xD800..<0xDC00).contains(u) {
                    if i < n, case let low = UInt32(chunk.le(start + 2 * i, as: UInt16.self)), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                        i += 1
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(u) {
                    scalar = 0xFFFD
                }
                if scalar < 0x800 {
                    out.append(UInt8(0xC0 | (scalar >> 6)))
                    out.append(UInt8(0x80 | (scalar & 0x3F)))
                } else if scalar < 0x10000 {
                    out.append(UInt8(0xE0 | (scalar >> 12)))
                    out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                    out.append(UInt8(0x80 | (scalar & 0x3F)))
                } else {
                    out.append(UInt8(0xF0 | (scalar >> 18)))
                    out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
                    out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                    out.append(UInt8(0x80 | (scalar & 0x3F)))
                }
            }
        }
    }
}
