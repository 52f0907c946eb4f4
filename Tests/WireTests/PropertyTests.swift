import Foundation
import Testing

@testable import Wire

/// Random inputs from a fixed seed: every run checks the same thousands of cases.
@Suite("Properties")
struct PropertyTests {
    static func randomString(_ rng: inout SplitMix, max: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789 .:-_[]\"\\=/ üñ中文\n\t".unicodeScalars)
        let n = Int(rng.next() % UInt64(max + 1))
        var s = String.UnicodeScalarView()
        for _ in 0..<n { s.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
        return String(s)
    }

    static func randomEvent(_ rng: inout SplitMix) -> Event {
        func maybe<T>(_ v: @autoclosure () -> T) -> T? { rng.next() % 3 == 0 ? nil : v() }
        let kinds = Event.Kind.vocabulary
        return Event(
            kind: kinds[Int(rng.next() % UInt64(kinds.count))],
            outcome: maybe(Event.Outcome.allCases[Int(rng.next() % 2)]),
            timeMicroseconds: maybe(Int64(rng.next() % UInt64(Event.timeRange.upperBound + 1))),
            host: maybe(randomString(&rng, max: 20)), program: maybe(randomString(&rng, max: 10)),
            pid: maybe(Int64(rng.next() % 100_000)), user: maybe(randomString(&rng, max: 12)),
            targetUser: maybe(randomString(&rng, max: 12)), group: maybe(randomString(&rng, max: 12)),
            sourceIP: maybe("203.0.113.\(rng.next() % 256)"), sourcePort: maybe(Int64(rng.next() % 65536)),
            method: maybe("password"), logonType: maybe(Int64(rng.next() % 12)), rule: maybe(randomString(&rng, max: 20)),
            severity: maybe(Event.Severity.allCases[Int(rng.next() % 5)]), raw: maybe(randomString(&rng, max: 400)))
    }

    static func receiver() throws -> FrameReceiver {
        try FrameReceiver(configuration: .init(freshness: Freshness(maxAge: .seconds(1 << 40), maxFuture: .seconds(1 << 40)))) {
            Fixtures.passkey.edgeKey(for: $0)
        }
    }

    @Test(arguments: [false, true])
    func randomBatchesRoundTrip(seal: Bool) throws {
        var rng = SplitMix(seed: seal ? 1 : 2)
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key, options: .init(seal: seal))
        let envelope = Envelope(hostname: "web-01")
        let parser = SyslogParser()
        let receiver = try Self.receiver()
        for sequence in 1...200 as ClosedRange<UInt64> {
            let events = (0..<Int(rng.next() % 70)).map { _ in Self.randomEvent(&rng) }
            let budget = rng.next() % 2 == 0 ? Envelope.udpBudgetBytes : Envelope.tcpBudgetBytes
            let frame = try encoder.makeFrame(.events(events), epoch: 9, sequence: sequence, sendTimeMilliseconds: Int64(sequence))
            let messages = try envelope.messages(for: frame, encoder: encoder, budgetBytes: budget).shuffled(using: &rng)
            var delivered: FrameBody?
            for text in messages {
                #expect(text.utf8.count <= budget)
                let result = receiver.receive(message: try parser.parse(Array(text.utf8)), nowMilliseconds: 0, now: .now)
                if case .delivered(let d)? = result { delivered = d.body }
            }
            #expect(delivered == .events(events), "sequence \(sequence)")
        }
    }

    /// Any single flipped bit anywhere in a packet is refused, never delivered.
    @Test func everyFlippedBitIsRefused() throws {
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        for seal in [false, true] {
            let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key, options: .init(seal: seal))
            let frame = try encoder.makeFrame(.events([Fixtures.sampleEvent(), Fixtures.sampleEvent(1)]), epoch: 1, sequence: 1, sendTimeMilliseconds: 0)
            let packet = try encoder.packets(for: frame, maxChunkBytes: 4000)[0]
            for bit in 0..<(packet.count * 8) {
                var bad = packet
                bad[bit / 8] ^= 1 << UInt8(bit % 8)
                let result = try Self.receiver().receive(packet: bad[...], nowMilliseconds: 0, now: .now)
                guard case .rejected = result else {
                    Issue.record("bit \(bit) flipped was not refused: \(result)")
                    return
                }
            }
            // The intact packet is accepted, so the refusals above are about the flips.
            guard case .delivered = try Self.receiver().receive(packet: packet[...], nowMilliseconds: 0, now: .now) else {
                Issue.record("intact packet refused")
                return
            }
        }
    }

    @Test func everyTruncationIsRefused() throws {
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key)
        let frame = try encoder.makeFrame(.events([Fixtures.sampleEvent()]), epoch: 1, sequence: 1, sendTimeMilliseconds: 0)
        let packet = try encoder.packets(for: frame, maxChunkBytes: 4000)[0]
        let receiver = try Self.receiver()
        for length in 0..<packet.count {
            guard case .rejected = receiver.receive(packet: packet[..<length], nowMilliseconds: 0, now: .now) else {
                Issue.record("truncation to \(length) bytes not refused")
                return
            }
        }
        // Extra bytes after the tag are refused too.
        guard case .rejected = receiver.receive(packet: (packet + [0])[...], nowMilliseconds: 0, now: .now) else {
            Issue.record("trailing byte accepted")
            return
        }
    }

    /// Header fields swapped or moved (same bytes, other order) break the tag.
    @Test func reorderedFieldsAreRefused() throws {
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key)
        let frame = try encoder.makeFrame(.events([Fixtures.sampleEvent()]), epoch: 0x0102_0304, sequence: 0x0A0B_0C0D_0E0F_1011, sendTimeMilliseconds: 1_795_939_815_200)
        let packet = try encoder.packets(for: frame, maxChunkBytes: 4000)[0]
        let n = 5 + Fixtures.edge.rawValue.utf8.count
        // Fields as (offset, length): epoch, sequence, send time.
        let fields = [(n, 4), (n + 4, 8), (n + 12, 8), (n + 20, 4)]
        var variants: [[UInt8]] = []
        for (i, a) in fields.enumerated() {
            for b in fields[(i + 1)...] where a.1 == b.1 {
                var v = packet
                v.replaceSubrange(a.0..<(a.0 + a.1), with: packet[b.0..<(b.0 + b.1)])
                v.replaceSubrange(b.0..<(b.0 + b.1), with: packet[a.0..<(a.0 + a.1)])
                variants.append(v)
            }
        }
        var reversedSequence = packet
        reversedSequence.replaceSubrange((n + 4)..<(n + 12), with: packet[(n + 4)..<(n + 12)].reversed())
        variants.append(reversedSequence)
        var swappedKindFlags = packet
        swappedKindFlags.swapAt(1, 2)
        variants.append(swappedKindFlags)
        variants.removeAll { $0 == packet }  // a swap of equal bytes changes nothing
        #expect(variants.count >= 3)
        for v in variants {
            guard case .rejected = try Self.receiver().receive(packet: v[...], nowMilliseconds: 0, now: .now) else {
                Issue.record("reordered packet accepted")
                return
            }
        }
    }

    @Test func replayedFramesAreNotDeliveredTwice() throws {
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key)
        let receiver = try Self.receiver()
        let frame = try encoder.makeFrame(.events([Fixtures.sampleEvent()]), epoch: 1, sequence: 1, sendTimeMilliseconds: 0)
        let packet = try encoder.packets(for: frame, maxChunkBytes: 4000)[0]
        guard case .delivered = receiver.receive(packet: packet[...], nowMilliseconds: 0, now: .now) else { Issue.record("refused"); return }
        #expect(receiver.receive(packet: packet[...], nowMilliseconds: 0, now: .now) == .duplicate)
        // Resent with a new send time (same sequence): still only once.
        var resent = frame
        resent.sendTimeMilliseconds = 5000
        let again = try encoder.packets(for: resent, maxChunkBytes: 4000)[0]
        #expect(again != packet)
        #expect(receiver.receive(packet: again[...], nowMilliseconds: 0, now: .now) == .duplicate)
    }

    @Test func staleAndEnvelopeMismatchRefused() throws {
        let key = Fixtures.passkey.edgeKey(for: Fixtures.edge)
        let encoder = try FrameEncoder(edgeID: Fixtures.edge, key: key)
        let receiver = try FrameReceiver { Fixtures.passkey.edgeKey(for: $0) }
        let frame = try encoder.makeFrame(.events([Fixtures.sampleEvent()]), epoch: 1, sequence: 1, sendTimeMilliseconds: 1_000_000)
        let text = try Envelope(hostname: "web-01").messages(for: frame, encoder: encoder, budgetBytes: 1400)[0]
        let parser = SyslogParser()
        guard case .rejected(let e)? = receiver.receive(message: try parser.parse(Array(text.utf8)), nowMilliseconds: 1_000_000 + 3_600_000, now: .now) else {
            Issue.record("stale frame accepted"); return
        }
        #expect(e == .stale)
        let lying = text.replacingOccurrences(of: "seq=\"1\"", with: "seq=\"2\"")
        guard case .rejected(let e2)? = receiver.receive(message: try parser.parse(Array(lying.utf8)), nowMilliseconds: 1_000_000, now: .now) else {
            Issue.record("mismatched envelope accepted"); return
        }
        #expect(e2 == .envelopeMismatch)
        // Without the SD (stripped by a forwarder) the packet alone is enough.
        let stripped = "<110>Nov 29 16:10:15 web-01 edge: " + text[text.range(of: "wire1:")!.lowerBound...]
        guard case .delivered? = receiver.receive(message: try parser.parse(Array(stripped.utf8)), nowMilliseconds: 1_000_000, now: .now) else {
            Issue.record("frame without SD refused"); return
        }
        // Plain syslog is not a frame.
        #expect(receiver.receive(message: try parser.parse(Array("<13>Nov 29 16:10:15 h sshd[1]: hello".utf8)), nowMilliseconds: 0, now: .now) == nil)
    }

    @Test func randomBytesAsPacketsNeverCrash() throws {
        var rng = SplitMix(seed: 5)
        let receiver = try Self.receiver()
        for _ in 0..<5000 {
            var bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if !bytes.isEmpty && rng.next() % 2 == 0 { bytes[0] = 1 }
            if case .delivered = receiver.receive(packet: bytes[...], nowMilliseconds: 0, now: .now) {
                Issue.record("random bytes delivered")
            }
        }
    }

    @Test func payloadCodecRefusesHostileCounts() {
        // A count of 2^32 events in 5 bytes must not reserve memory for them.
        var bytes: [UInt8] = []
        bytes.appendVarint(1 << 32)
        #expect(throws: WireError.self) { try EventBatchCodec.decode(bytes[...], limits: .default) }
        var small: [UInt8] = []
        small.appendVarint(3000)
        small += [UInt8](repeating: 0, count: 6000)
        #expect(throws: WireError.self) { try EventBatchCodec.decode(small[...], limits: PayloadLimits(maxEvents: 100)) }
    }
}
