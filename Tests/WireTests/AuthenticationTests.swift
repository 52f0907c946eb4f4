import Crypto
import Foundation
import Testing

@testable import Wire

@Suite("Authentication")
struct AuthenticationTests {
    /// RFC 4231 section 4, HMAC-SHA-256 results (test case 5 truncated to 128 bits, as our
    /// packet tags are).
    static let rfc4231: [(key: [UInt8], data: [UInt8], mac: String)] = [
        (Array(repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (Array(repeating: 0xaa, count: 20), Array(repeating: 0xdd, count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (Array(1...25), Array(repeating: 0xcd, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (Array(repeating: 0x0c, count: 20), Array("Test With Truncation".utf8),
         "a3b6167473100ee06e0c796c2955552b"),
        (Array(repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (Array(repeating: 0xaa, count: 131),
         Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: 0..<7)
    func rfc4231Vectors(_ i: Int) {
        let v = Self.rfc4231[i]
        let mac = Array(HMAC<SHA256>.authenticationCode(for: v.data, using: SymmetricKey(data: v.key)))
        let expected = [UInt8](hex: v.mac)
        #expect(Array(mac.prefix(expected.count)) == expected)
        if expected.count == 16 {
            // Our truncated verifier accepts the RFC's truncated tag, and refuses it altered.
            #expect(HMACTruncated.isValid(tag: expected[...], for: v.data[...], key: SymmetricKey(data: v.key)))
            var wrong = expected
            wrong[15] ^= 1
            #expect(!HMACTruncated.isValid(tag: wrong[...], for: v.data[...], key: SymmetricKey(data: v.key)))
        }
    }

    @Test func edgeKeysDifferPerEdgeAndPasskey() throws {
        let a = Fixtures.passkey.edgeKey(for: EdgeID(rawValue: "a")!)
        let b = Fixtures.passkey.edgeKey(for: EdgeID(rawValue: "b")!)
        let a2 = try Passkey("another passkey, also long").edgeKey(for: EdgeID(rawValue: "a")!)
        #expect(a.hexEncoded != b.hexEncoded)
        #expect(a.hexEncoded != a2.hexEncoded)
        #expect(try EdgeKey(hex: a.hexEncoded).hexEncoded == a.hexEncoded)
        #expect(!"\(a)".contains(a.hexEncoded.prefix(8)), "a key's description must not show it")
    }

    @Test func shortPasskeyAndBadKeysRefused() {
        #expect(throws: WireError.self) { try Passkey("short") }
        #expect(throws: WireError.self) { try EdgeKey(hex: "abc") }
        #expect(throws: WireError.self) { try EdgeKey(hex: String(repeating: "g", count: 64)) }
    }

    @Test func edgeIDCharset() {
        #expect(EdgeID(rawValue: "web-01.prod_a") != nil)
        #expect(EdgeID(rawValue: "") == nil)
        #expect(EdgeID(rawValue: "has space") == nil)
        #expect(EdgeID(rawValue: "quote\"") == nil)
        #expect(EdgeID(rawValue: String(repeating: "a", count: 65)) == nil)
        #expect(EdgeID(rawValue: String(repeating: "a", count: 64)) != nil)
    }

    /// A key stolen from one edge signs packets that the relay refuses for any other edge.
    @Test func stolenKeyCannotSpeakForAnotherEdge() throws {
        let thief = EdgeID(rawValue: "compromised")!
        let victim = EdgeID(rawValue: "dc-01")!
        let stolen = Fixtures.passkey.edgeKey(for: thief)
        // The attacker builds a frame claiming to be the victim, signed with the stolen key.
        let forger = try FrameEncoder(edgeID: victim, key: stolen)
        let frame = try forger.makeFrame(.events([Fixtures.sampleEvent()]), epoch: 1, sequence: 1, sendTimeMilliseconds: 0)
        let packet = try forger.packets(for: frame, maxChunkBytes: 1000)[0]
        #expect(throws: WireError.badMAC) {
            try Packet.verify(packet[...]) { Fixtures.passkey.edgeKey(for: $0) }
        }
    }

    /// Rotation: a receiver given several candidate keys for an edge accepts a frame signed
    /// with any of them, says which one verified it, and opens it with that one; a key not
    /// among the candidates (the generation rotated away) is refused.
    @Test func candidateKeysDuringARotation() throws {
        let edge = Fixtures.edge
        let old = Fixtures.passkey.edgeKey(for: edge, generation: 1)
        let new = Fixtures.passkey.edgeKey(for: edge, generation: 2)
        let other = Fixtures.passkey.edgeKey(for: edge, generation: 3)
        #expect(old.hexEncoded != new.hexEncoded && new.hexEncoded != other.hexEncoded)
        #expect(old.hexEncoded == Fixtures.passkey.edgeKey(for: edge).hexEncoded, "generation 1 is the key edges always had")
        let receiver = try FrameReceiver(candidateKeys: { $0 == edge ? [new, old] : [] })
        let events = (0..<30).map { _ in Fixtures.sampleEvent() }
        func packets(_ key: EdgeKey, _ sequence: UInt64) throws -> [[UInt8]] {
            let encoder = try FrameEncoder(edgeID: edge, key: key, options: .init(compression: .authV1, seal: true))
            let frame = try encoder.makeFrame(.events(events), epoch: 1, sequence: sequence, sendTimeMilliseconds: 0)
            return try encoder.packets(for: frame, maxChunkBytes: 24)
        }
        for (key, sequence, index) in [(new, UInt64(1), 0), (old, UInt64(2), 1)] {
            let all = try packets(key, sequence)
            #expect(all.count > 1, "fragmented: every fragment is checked")
            var results: [FrameReceiver.Result] = []
            for p in all { results.append(receiver.receive(packet: p[...], nowMilliseconds: 0, now: .now)) }
            guard case .delivered(let d) = results.last else { Issue.record("sequence \(sequence): \(results)"); continue }
            #expect(d.keyIndex == index)
            #expect(d.body == .events(events), "sealed and compressed: opened with the key that verified it")
        }
        for p in try packets(other, 3) {
            #expect(receiver.receive(packet: p[...], nowMilliseconds: 0, now: .now) == .rejected(.badMAC("")))
        }
        // An edge with no key at all.
        let stranger = try FrameEncoder(edgeID: EdgeID(rawValue: "stranger")!, key: new)
        let frame = try stranger.makeFrame(.events(events), epoch: 1, sequence: 1, sendTimeMilliseconds: 0)
        #expect(receiver.receive(packet: try stranger.packets(for: frame, maxChunkBytes: 2000)[0][...], nowMilliseconds: 0, now: .now)
            == .rejected(.badMAC("")))
        #expect(throws: WireError.self) { try Packet.verify(try packets(other, 4)[0][...], candidates: [new, old]) }
        #expect(try Packet.verify(try packets(old, 5)[0][...], candidates: [new, old]).keyIndex == 1)
    }

    /// An edge restarted with its new key signs again the frames it had spooled, which were
    /// sealed under the old key: during the overlap the relay opens them (found by review: the
    /// frame was refused as "sealing" and its sequence number used up). Sealed under a key the
    /// relay no longer takes, it is refused and its sequence number given back, so the gap is
    /// seen.
    @Test func spooledFramesSealedUnderTheOldKeyOpenDuringTheOverlap() throws {
        let edge = Fixtures.edge
        let old = Fixtures.passkey.edgeKey(for: edge, generation: 1)
        let new = Fixtures.passkey.edgeKey(for: edge, generation: 2)
        let events = [Fixtures.sampleEvent()]
        let sealedUnderOld = try FrameEncoder(edgeID: edge, key: old, options: .init(compression: .authV1, seal: true))
            .makeFrame(.events(events), epoch: 1, sequence: 7, sendTimeMilliseconds: 0)
        let signedWithNew = try FrameEncoder(edgeID: edge, key: new).packets(for: sealedUnderOld, maxChunkBytes: 2000)
        let overlap = try FrameReceiver(candidateKeys: { _ in [new, old] })
        guard case .delivered(let d) = overlap.receive(packet: signedWithNew[0][...], nowMilliseconds: 0, now: .now) else {
            Issue.record("a spooled frame sealed under the old key was refused during the overlap"); return
        }
        #expect(d.body == .events(events) && d.keyIndex == 0)
        let after = try FrameReceiver(candidateKeys: { _ in [new] })
        #expect(after.receive(packet: signedWithNew[0][...], nowMilliseconds: 0, now: .now) == .rejected(.sealing("")))
        #expect(after.sequences[edge]?.check(epoch: 1, sequence: 7) ?? .fresh == .fresh, "the sequence number was given back")
    }
}
