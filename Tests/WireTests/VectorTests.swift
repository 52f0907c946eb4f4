import Crypto
import Foundation
import Testing

@testable import Wire

/// The vectors in Vectors/wire-vectors.json come from tools/wire-vectors.py, an independent
/// Python implementation of docs/wire-protocol.md. Swift must produce every byte.
@Suite("Wire v1 test vectors")
struct VectorTests {
    static var cases: [[String: Any]] {
        (try? Fixtures.vectors())?["cases"] as? [[String: Any]] ?? []
    }

    @Test func vectorsAreThere() throws {
        #expect(Self.cases.count >= 5)
        let v = try Fixtures.vectors()
        let digest = SHA256Hex.of(PresetDictionary.authV1.bytes)
        #expect(digest == v["dictionary_auth_v1_sha256"] as? String, "auth-v1 dictionary bytes changed: that breaks every deployed relay")
        #expect(PresetDictionary.authV1.bytes.count == v["dictionary_auth_v1_bytes"] as? Int)
    }

    /// Rotated edge keys (docs/wire-protocol.md, "Keys"): generation 1 is the original key,
    /// later generations append 0x00 and the generation in decimal to the HKDF info.
    @Test func edgeKeyGenerationsMatchVectors() throws {
        let v = try Fixtures.vectors()
        let passkey = try Passkey(v["passkey"] as! String)
        let generations = try #require(v["edge_key_generations"] as? [[String: Any]])
        #expect(generations.count == 4)
        for g in generations {
            let edge = try #require(EdgeID(rawValue: g["edge_id"] as! String))
            let generation = try #require(UInt16(exactly: (g["generation"] as! NSNumber).intValue))
            #expect(passkey.edgeKey(for: edge, generation: generation).hexEncoded == g["edge_key_hex"] as? String, "\(edge) generation \(generation)")
        }
        let web = try #require(Self.cases.first { $0["edge_id"] as? String == "web-01" })
        #expect(passkey.edgeKey(for: EdgeID(rawValue: "web-01")!, generation: 1).hexEncoded == web["edge_key_hex"] as? String)
    }

    @Test(arguments: 0..<5)
    func encodeMatchesVector(_ index: Int) throws {
        let c = try #require(Self.cases.count > index ? Self.cases[index] : nil)
        let passkey = try Passkey(try Fixtures.vectors()["passkey"] as! String)
        let edge = try #require(EdgeID(rawValue: c["edge_id"] as! String))
        let key = passkey.edgeKey(for: edge)
        #expect(key.hexEncoded == c["edge_key_hex"] as? String)
        #expect(key.mac.withUnsafeBytes { Array($0) } == [UInt8](hex: c["mac_key_hex"] as! String))
        #expect(key.seal.withUnsafeBytes { Array($0) } == [UInt8](hex: c["seal_key_hex"] as! String))

        let body: FrameBody
        if let h = c["heartbeat"] as? [String: Any] {
            let counters = (h["counters"] as! [String: NSNumber]).mapValues { $0.uint64Value }
            let sources = (h["sources"] as! [[String: String]]).map {
                Heartbeat.Source(name: $0["name"]!, state: $0["state"]!, detail: $0["detail"])
            }
            body = .heartbeat(Heartbeat(uptimeSeconds: (h["uptime_seconds"] as! NSNumber).uint64Value, counters: counters, sources: sources))
            #expect(HeartbeatCodec.encode(Heartbeat(uptimeSeconds: (h["uptime_seconds"] as! NSNumber).uint64Value, counters: counters, sources: sources)) == [UInt8](hex: c["plain_payload_hex"] as! String))
        } else {
            let events = (c["events"] as! [[String: Any]]).map(Fixtures.event(from:))
            body = .events(events)
            #expect(EventBatchCodec.encode(events) == [UInt8](hex: c["plain_payload_hex"] as! String))
        }
        let options = FrameEncoder.Options(compression: (c["compress"] as! Bool) ? .authV1 : nil, seal: c["seal"] as! Bool)
        let encoder = try FrameEncoder(edgeID: edge, key: key, options: options)
        let frame = try encoder.makeFrame(
            body, epoch: UInt32((c["epoch"] as! NSNumber).uint32Value), sequence: (c["sequence"] as! NSNumber).uint64Value,
            sendTimeMilliseconds: (c["send_time_ms"] as! NSNumber).int64Value)
        #expect(frame.flags.rawValue == UInt8(c["flags"] as! Int))
        #expect(frame.dictionaryID == UInt8(c["dictionary_id"] as! Int))
        #expect(frame.payload == [UInt8](hex: c["payload_hex"] as! String))

        let envelope = Envelope(hostname: c["hostname"] as! String)
        let budget = c["budget_bytes"] as! Int
        let chunk = try envelope.maxChunkBytes(edgeID: edge, epoch: frame.epoch, sequence: frame.sequence, budgetBytes: budget)
        #expect(chunk == c["max_chunk_bytes"] as? Int)
        let packets = try encoder.packets(for: frame, maxChunkBytes: chunk)
        #expect(packets.map(\.hexString) == c["packets_hex"] as! [String])
        let messages = try envelope.messages(for: frame, encoder: encoder, budgetBytes: budget)
        #expect(messages == c["syslog"] as! [String])
        for m in messages { #expect(m.utf8.count <= budget) }
    }

    @Test(arguments: 0..<5)
    func decodeVector(_ index: Int) throws {
        let c = try #require(Self.cases.count > index ? Self.cases[index] : nil)
        let edge = try #require(EdgeID(rawValue: c["edge_id"] as! String))
        let key = Fixtures.passkey.edgeKey(for: edge)
        let receiver = try FrameReceiver(
            configuration: .init(freshness: Freshness(maxAge: .seconds(86_400 * 365 * 100), maxFuture: .seconds(86_400 * 365 * 100)))
        ) { $0 == edge ? key : nil }
        let parser = SyslogParser()
        let messages = (c["syslog"] as! [String]).reversed()  // out of order on purpose
        var delivered: [FrameReceiver.Delivery] = []
        for text in messages {
            let message = try parser.parse(Array(text.utf8))
            let result = try #require(receiver.receive(message: message, nowMilliseconds: 0, now: .now))
            switch result {
            case .delivered(let d): delivered.append(d)
            case .pending: break
            default: Issue.record("unexpected \(result)")
            }
        }
        #expect(delivered.count == 1)
        let body = try #require(delivered.first?.body)
        if let events = c["events"] as? [[String: Any]] {
            #expect(body == .events(events.map(Fixtures.event(from:))))
        } else {
            guard case .heartbeat(let h) = body else { Issue.record("not a heartbeat"); return }
            #expect(h.uptimeSeconds == 230)
            #expect(h.counters["lines_read"] == 1200)
            #expect(h.sources.first?.detail == "offset 88211")
        }
    }
}

enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
