/// Standard base64 (RFC 4648 section 4) with padding; strict decoding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(encodedLength(bytes.count))
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let v = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil on any character outside the alphabet, a bad length or bad padding.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let chars = Array(text)
        guard chars.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        while i < chars.count {
            let last = i + 4 == chars.count
            let c0 = reverse[Int(chars[i])], c1 = reverse[Int(chars[i + 1])]
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            if last && chars[i + 2] == UInt8(ascii: "=") {
                guard chars[i + 3] == UInt8(ascii: "="), c1 & 0x0F == 0 else { return nil }
                out.append(c0 << 2 | c1 >> 4)
                return out
            }
            let c2 = reverse[Int(chars[i + 2])]
            guard c2 != 0xFF else { return nil }
            if last && chars[i + 3] == UInt8(ascii: "=") {
                guard c2 & 0x03 == 0 else { return nil }
                out.append(c0 << 2 | c1 >> 4)
                out.append(c1 << 4 | c2 >> 2)
                return out
            }
            let c3 = reverse[Int(chars[i + 3])]
            guard c3 != 0xFF else { return nil }
            out.append(c0 << 2 | c1 >> 4)
            out.append(c1 << 4 | c2 >> 2)
            out.append(c2 << 6 | c3)
            i += 4
        }
        return out
    }
}
