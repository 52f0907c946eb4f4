/// Writes JSON text through a pointer into room the caller reserved: no bounds check per
/// byte, no reference counting. The caller sizes the room with `bound(quoting:)` and friends,
/// which are exact upper bounds, so nothing is written past it.
struct JSONWriter {
    private(set) var position: UnsafeMutablePointer<UInt8>

    init(_ start: UnsafeMutablePointer<UInt8>) { position = start }

    /// Room a quoted string of `count` UTF-8 bytes may take: every byte escaped as `\u00XX`,
    /// and the quotes.
    @inline(__always)
    static func bound(quoting count: Int) -> Int { count * 6 + 2 }

    /// Zeroes to make room with in one copy (most events need under 4 KiB).
    static let zeroes = [UInt8](repeating: 0, count: 8192)

    /// Room a decimal Int64 may take (`-9223372036854775808`).
    static let decimalBound = 20

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        position.pointee = b
        position += 1
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        let count = s.utf8CodeUnitCount
        position.update(from: s.utf8Start, count: count)
        position += count
    }

    @inline(__always)
    mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        position.update(from: base, count: bytes.count)
        position += bytes.count
    }

    mutating func decimal(_ n: Int64) {
        if n < 0 { byte(UInt8(ascii: "-")) }
        var v = n.magnitude
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20, v >= scale {
            digits += 1
            scale = scale &* 10
        }
        var p = position + digits
        position = p
        repeat {
            p -= 1
            p.pointee = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
            v /= 10
        } while v > 0
    }

    /// `value` as `width` digits, zero-padded (the caller keeps it in range).
    @inline(__always)
    mutating func digits(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor &*= 10 }
        var v = value
        while divisor > 0 {
            byte(UInt8(truncatingIfNeeded: 0x30 &+ v / divisor))
            v %= divisor
            divisor /= 10
        }
    }

    mutating func quoted(_ s: String) {
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ quoted(bytes: $0) }) { return done }
        var copy = s
        copy.withUTF8 { quoted(bytes: $0) }
    }

    /// UTF-8 `bytes` as a JSON string literal (RFC 8259): quotes, backslashes and controls
    /// (and DEL) escaped, everything else as it is. Eight bytes are checked and copied at a
    /// time; a word with something to escape goes byte by byte.
    mutating func quoted(bytes: UnsafeBufferPointer<UInt8>) {
        byte(0x22)
        guard let source = bytes.baseAddress else {
            byte(0x22)
            return
        }
        let count = bytes.count
        var i = 0
        while count - i >= 8 {
            let word = UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self)
            if Self.isPlain(word) {
                UnsafeMutableRawPointer(position).storeBytes(of: word, as: UInt64.self)
                position += 8
            } else {
                for k in i..<(i + 8) { escaped(source[k]) }
            }
            i += 8
        }
        while i < count {
            escaped(source[i])
            i += 1
        }
        byte(0x22)
    }

    /// Whether no byte of the word is a control (< 0x20, 0x7F), a quote or a backslash: the
    /// classic "has a byte less than n / equal to c" word tricks, exact for the question "is
    /// there one" (bytes of 0x80 and above never count).
    @inline(__always)
    static func isPlain(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        return (w &- ones &* 0x20) & ~w & highs == 0 && !hasZero(w ^ (ones &* 0x22)) && !hasZero(w ^ (ones &* 0x5C))
            && !hasZero(w ^ (ones &* 0x7F))
    }

    @inline(__always)
    private mutating func escaped(_ b: UInt8) {
        guard b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F else {
            byte(b)
            return
        }
        byte(0x5C)
        switch b {
        case 0x22, 0x5C: byte(b)
        case 0x0A: byte(UInt8(ascii: "n"))
        case 0x0D: byte(UInt8(ascii: "r"))
        case 0x09: byte(UInt8(ascii: "t"))
        default:
            raw("u00")
            byte(Self.hexDigit(b >> 4))
            byte(Self.hexDigit(b & 15))
        }
    }

    @inline(__always)
    static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }
}

extension [UInt8] {
    /// Appends what `body` writes, at most `bound` bytes, through a `JSONWriter`: the room is
    /// made at the end of the array (zeroes, one fill), the text written in place, and what
    /// was not written cut off again (for bytes, a change of count).
    mutating func appendJSON(bound: Int, _ body: (inout JSONWriter) -> Void) {
        let start = count
        // Copies of a page of zeroes (a fill element by element cost a loop per byte for long
        // fields: a 64 KiB user name reserves 384 KiB).
        JSONWriter.zeroes.withUnsafeBufferPointer { zeroes in
            var left = bound
            while left > 0 {
                let n = Swift.min(left, zeroes.count)
                append(contentsOf: UnsafeBufferPointer(rebasing: zeroes[..<n]))
                left -= n
            }
        }
        let written = withUnsafeMutableBufferPointer { buffer -> Int in
            let base = buffer.baseAddress! + start
            var writer = JSONWriter(base)
            body(&writer)
            return writer.position - base
        }
        precondition(written <= bound, "JSON writer overran its bound")
        removeLast(bound - written)
    }
}
