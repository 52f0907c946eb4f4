import Foundation
import Testing

@testable import Wire

/// The JSON writer's fast paths give what the plain ones give.
@Suite("Event JSON")
struct EventJSONTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 29) ^ (state << 35)
        }
    }

    /// The escaper as RFC 8259 reads, one byte at a time: the reference for the writer that
    /// checks and copies sixteen bytes at a time.
    static func bytewiseQuoted(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in bytes {
            switch b {
            case 0x22: out += Array(#"\""#.utf8)
            case 0x5C: out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case ..<0x20, 0x7F: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    /// Quoting agrees with the bytewise escaper for every length around the 16-byte blocks,
    /// with escapes anywhere in a block, in the tail, or nowhere.
    @Test func theBlockEscaperAgreesWithTheBytewiseOne() async {
        var rng = Generator(state: 11)
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x41]
        for round in 0..<50_000 {
            if round % 1000 == 0 { await Task.yield() }
            let count = Int(rng.next() % 80)
            let sparse = rng.next() % 3 == 0
            let bytes = (0..<count).map { _ -> UInt8 in
                if sparse { return rng.next() % 40 == 0 ? 0x22 : 0x61 }
                return rng.next() % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : interesting[Int(rng.next() % UInt64(interesting.count))]
            }
            var out: [UInt8] = [0x7B]
            bytes.withUnsafeBufferPointer { Event.appendQuoted(bytes: $0, to: &out) }
            let expected = [0x7B] + Self.bytewiseQuoted(bytes)
            #expect(out == expected, "\(bytes)")
            if out != expected { return }
        }
    }

    /// The worst case fits the room reserved for it: every byte a control character.
    @Test func theWorstCaseFitsItsBound() {
        let controls = [UInt8](repeating: 0x01, count: 4099)
        var out: [UInt8] = []
        controls.withUnsafeBufferPointer { Event.appendQuoted(bytes: $0, to: &out) }
        #expect(out.count == 4099 * 6 + 2)
        let e = Event(kind: .login, host: String(repeating: "\u{1}", count: 300), user: String(repeating: "\"", count: 5000),
                      raw: String(repeating: "\u{7F}", count: 9000))
        var json: [UInt8] = []
        e.appendJSON(to: &json)
        #expect(json.count > 300 * 6 + 5000 * 2 + 4096 * 6)
    }

    @Test func decimalsAtTheirEdges() {
        for n: Int64 in [0, 9, 10, 99, 100, -1, -10, 1_000_000_007, .max, .min, .max - 1, .min + 1] {
            var out: [UInt8] = []
            Event.appendDecimal(n, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(n))
        }
    }

    /// Quoting with runs copied whole reads back as the text it was given, escapes anywhere
    /// (first, last, side by side).
    @Test func quotedStringsReadBack() async throws {
        var rng = Generator(state: 5)
        let pieces = ["a", "é", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "plain text", "中", " "]
        for round in 0..<5_000 {
            if round % 500 == 0 { await Task.yield() }
            let text = (0..<Int(rng.next() % 12)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            var out: [UInt8] = Array("[".utf8)
            Event.appendQuoted(text, to: &out)
            out.append(UInt8(ascii: "]"))
            let back = try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String])
            #expect(back == [text], "\(String(decoding: out, as: UTF8.self))")
            if back != [text] { return }
        }
        var out: [UInt8] = []
        Event.appendQuoted("a\u{1}\"b", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a\u0001\"b""#)
    }

    /// Times written as bytes read as the String formatter writes them, at every edge of
    /// the calendar the vocabulary allows and at random.
    @Test func timesWrittenAsBytesMatchTheFormatter() async {
        var rng = Generator(state: 5)
        var times: [Int64] = [0, 1, 999_999, 1_000_000, 86_399_999_999, 951_782_400_000_000, 1_795_939_815_123_456,
                              Event.timeRange.lowerBound, Event.timeRange.upperBound, -1, -1_000_001, .max, .min,
                              253_402_300_799_999_999, 253_402_300_800_000_000, -62_167_219_200_000_000, -62_167_219_200_000_001]
        times += (0..<20_000).map { _ in Int64(rng.next() % UInt64(Event.timeRange.upperBound)) }
        for (n, t) in times.enumerated() {
            if n % 1000 == 0 { await Task.yield() }
            var bytes: [UInt8] = []
            SyslogTimestamp.appendISO8601UTC(microseconds: t, to: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text == SyslogTimestamp.iso8601UTC(microseconds: t), "\(t)")
            if text != SyslogTimestamp.iso8601UTC(microseconds: t) { return }
        }
    }

    @Test func anEventAsJSONParsesBack() throws {
        let e = Event(kind: .login, outcome: .failure, timeMicroseconds: 1_795_939_815_000_001, host: "h\"\\\u{1}", user: "é \u{7F}",
                      sourcePort: 22, raw: "line\r\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(e.jsonObject(extra: [("line", .int(3))]).utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2026-11-29T08:10:15.000001Z")
        #expect(object["host"] as? String == "h\"\\\u{1}" && object["user"] as? String == "é \u{7F}" && object["raw"] as? String == "line\r\n")
        #expect(object["source_port"] as? Int == 22 && object["line"] as? Int == 3)
    }
}
