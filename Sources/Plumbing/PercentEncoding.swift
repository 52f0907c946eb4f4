/// Percent-encoding of URL query values: RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`)
/// stay, every other byte of the UTF-8 becomes `%XX` (capitals). With `spaceAsPlus` a space
/// is `+`, as `application/x-www-form-urlencoded` (Python's `urlencode`) writes it.
/// DingTalk's `sign` and Spark's `authorization` and `date` are written with it.
package enum PercentEncoding {
    package static func encode(_ s: String, spaceAsPlus: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
