/// A small JSON reader for forwarders' event objects: it flattens an object into
/// `path -> text` pairs (`winlog.event_data.TargetUserName`), keeping strings, numbers and
/// booleans as text and skipping arrays. Bounded: nesting past `maxDepth` and members past
/// `maxMembers` are refused or dropped, and the work is linear in the input. Nil when the text
/// is not one JSON object.
struct FlatJSON {
    static let maxDepth = 8
    static let maxMembers = 1024
    static let maxPathBytes = 512

    private(set) var members: [(path: String, value: String)] = []

    subscript(path: String) -> String? {
        members.first { $0.path == path }?.value
    }

    init?(_ bytes: UnsafeBufferPointer<UInt8>) {
        var p = Parser(bytes: bytes)
        p.skipSpace()
        guard p.peek == UInt8(ascii: "{"), p.object(prefix: "", depth: 0, into: &members) else { return nil }
        p.skipSpace()
        guard p.i == bytes.count else { return nil }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        mutating func object(prefix: String, depth: Int, into members: inout [(path: String, value: String)], keeping: Bool = true) -> Bool {
            guard depth < FlatJSON.maxDepth, peek == UInt8(ascii: "{") else { return false }
            i += 1
            skipSpace()
            if peek == UInt8(ascii: "}") {
                i += 1
                return true
            }
            while true {
                skipSpace()
                guard let key = string() else { return false }
                skipSpace()
                guard peek == UInt8(ascii: ":") else { return false }
                i += 1
                skipSpace()
                // A path is made only while there is room for it: a message of thousands of
                // members with long keys costs a scan, not a copy of each key.
                let keep = keeping && members.count < FlatJSON.maxMembers && prefix.utf8.count + key.utf8.count < FlatJSON.maxPathBytes
                let path = keep ? (prefix.isEmpty ? key : prefix + "." + key) : ""
                guard let c = peek else { return false }
                switch c {
                case UInt8(ascii: "{"):
                    if keep {
                        guard object(prefix: path, depth: depth + 1, into: &members) else { return false }
                    } else {
                        var ignored: [(path: String, value: String)] = []
                        guard object(prefix: "", depth: depth + 1, into: &ignored, keeping: false) else { return false }
                    }
                case UInt8(ascii: "["):
                    guard skipArray(depth: depth + 1) else { return false }
                case UInt8(ascii: "\""):
                    guard let s = string() else { return false }
                    if keep { members.append((path, s)) }
                default:
                    guard let s = scalar() else { return false }
                    if keep, s != "null" { members.append((path, s)) }
                }
                skipSpace()
                guard let next = peek else { return false }
                i += 1
                if next == UInt8(ascii: "}") { return true }
                guard next == UInt8(ascii: ",") else { return false }
            }
        }

        /// Arrays are stepped over (no forwarder puts an account field in one), nested ones
        /// within the depth bound.
        mutating func skipArray(depth: Int) -> Bool {
            guard depth < FlatJSON.maxDepth, peek == UInt8(ascii: "[") else { return false }
            i += 1
            var ignored: [(path: String, value: String)] = []
            skipSpace()
            if peek == UInt8(ascii: "]") {
                i += 1
                return true
            }
            while true {
                skipSpace()
                guard let c = peek else { return false }
                switch c {
                case UInt8(ascii: "{"):
                    guard object(prefix: "", depth: depth + 1, into: &ignored, keeping: false) else { return false }
                case UInt8(ascii: "["): guard skipArray(depth: depth + 1) else { return false }
                case UInt8(ascii: "\""): guard string() != nil else { return false }
                default: guard scalar() != nil else { return false }
                }
                skipSpace()
                guard let next = peek else { return false }
                i += 1
                if next == UInt8(ascii: "]") { return true }
                guard next == UInt8(ascii: ",") else { return false }
            }
        }

        /// A number, true, false or null, as its text.
        mutating func scalar() -> String? {
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                let isPart = (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2B || b == 0x2E || b == 0x45
                guard isPart else { break }
                i += 1
            }
            guard i > start else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            guard text == "true" || text == "false" || text == "null" || Double(text) != nil else { return nil }
            return text
        }

        /// A string with its escapes decoded (`\uXXXX` with surrogate pairs).
        mutating func string() -> String? {
            guard peek == UInt8(ascii: "\"") else { return nil }
            i += 1
            let start = i
            // Fast path: no escapes.
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: "\"") {
                defer { i += 1 }
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            }
            var out = Array(bytes[start..<i])
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                }
                guard b == UInt8(ascii: "\\") else {
                    out.append(b)
                    i += 1
                    continue
                }
                guard i + 1 < bytes.count else { return nil }
                let e = bytes[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var unit = hex4() else { return nil }
                    var scalar: Unicode.Scalar?
                    if (0xD800..<0xDC00).contains(unit), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        guard let low = hex4() else { return nil }
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        } else {
                            unit = 0xFFFD
                        }
                    }
                    out.append(contentsOf: String(Character(scalar ?? Unicode.Scalar(unit) ?? "\u{FFFD}")).utf8)
                default: out.append(e)  // \" \\ \/
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let d: UInt32
                switch b {
                case 0x30...0x39: d = UInt32(b - 0x30)
                case 0x41...0x46: d = UInt32(b - 0x41 + 10)
                case 0x61...0x66: d = UInt32(b - 0x61 + 10)
                default: return nil
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }
    }
}
