import Foundation
import Testing
import TestSupport

@testable import Relay
@testable import Wire

/// Hostile input at the relay's sockets: each refused and counted, memory bounded, and
/// genuine traffic from other senders still delivered.
@Suite("Hostile input", .serialized)
struct HostileTests {
    static let flooder = EdgeID(rawValue: "flood-01")!

    /// Messages of `frame` (already made) for `edge`, signed with the relay tests' passkey.
    static func messages(_ frame: Frame, edge: EdgeID) throws -> [[UInt8]] {
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: edge)
        let encoder = try FrameEncoder(edgeID: edge, key: key)
        return try Envelope(hostname: edge.rawValue).messages(for: frame, encoder: encoder, budgetBytes: Envelope.tcpBudgetBytes)
            .map { Array($0.utf8) }
    }

    @Test func aDecompressionBombFromAnEdgeWithAValidKeyIsRefused() async throws {
        let relay = try await RunningRelay.start()
        let key = try Passkey(RunningRelay.passkey).edgeKey(for: Self.flooder)
        let encoder = try FrameEncoder(edgeID: Self.flooder, key: key)
        var frame = try encoder.makeFrame(.events([EdgeFixture.event(1)]), epoch: 1, sequence: 1,
                                          sendTimeMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        // 64 MiB of zeros deflate to ~64 KiB: properly signed, it must still never be inflated past the bound.
        frame.payload = try Deflater(level: 9).compress([UInt8](repeating: 0, count: 64 << 20), dictionary: PresetDictionary.authV1.bytes)
        let bomb = try Self.messages(frame, edge: Self.flooder).map { String(decoding: $0, as: UTF8.self) }
        try await Send.tcp(Send.octetCounted(bomb), port: relay.tcpPort)
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(2)], sequence: 1), port: relay.udpPort)
        await relay.wait { relay.counter("relay_rejected_total{reason=\"decompression_limit\"}") == 1 && relay.frames.count == 1 }
        await relay.stop()
        #expect(relay.counter("relay_rejected_total{reason=\"decompression_limit\"}") == 1)
        #expect(relay.frames.map(\.frame.edgeID) == [EdgeFixture.edge], "the genuine frame of another edge arrives")
    }

    @Test func aFragmentFloodStaysWithinItsEdgesQuota() async throws {
        let relay = try await RunningRelay.start()
        // 3,000 frames of which only the first fragment is ever sent.
        var firsts: [[UInt8]] = []
        let events = (0..<120).map(EdgeFixture.event)
        for seq in 1...3000 {
            let m = try EdgeFixture.messages(events: events, sequence: UInt64(seq), edge: Self.flooder)
            #expect(m.count > 1)
            firsts.append(m[0])
        }
        try await Send.udp(firsts, port: relay.udpPort)
        let genuine = try EdgeFixture.messages(events: events, sequence: 1)
        try await Send.udp(genuine, port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 && relay.counter("relay_fragments_pending_total") + relay.counter("relay_dropped_total{reason=\"queue_full\"}") >= 2900 }
        let (frames, bytes, statistics) = relay.app.intake.reassemblyState()
        await relay.stop()
        let limits = Reassembler.Limits()
        #expect(frames <= limits.maxFramesPerEdge + 1, "pending frames: \(frames)")
        #expect(bytes <= limits.maxBytesPerEdge + 1500 * 2, "pending bytes: \(bytes)")
        #expect(statistics.evicted > 0 || statistics.overflow > 0, "the flood was cut: \(statistics)")
        #expect(relay.frames.map(\.frame.edgeID) == [EdgeFixture.edge], "the other edge's frame is complete and delivered")
    }

    @Test func truncatedAndBinaryGarbageMessagesAreRefusedAndCounted() async throws {
        let relay = try await RunningRelay.start()
        let genuine = try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1)[0]
        let truncated = Array(genuine.prefix(genuine.count - 40))
        var random = SystemRandomNumberGenerator()
        let garbage = (0..<50).map { _ in (0..<Int.random(in: 1...1400, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) } }
        try await Send.udp([truncated] + garbage + [genuine], port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 && relay.counter("relay_messages_total{transport=\"udp\"}") == 52 }
        await relay.stop()
        #expect(relay.frames.count == 1)
        let rejected = relay.app.intake.counters.snapshot().filter { $0.key.hasPrefix("relay_rejected_total") }.values.reduce(0, +)
        #expect(rejected + relay.counter("relay_syslog_plain_total") == 51, "every bad message is counted: \(relay.app.intake.counters.snapshot())")
        #expect(rejected >= 1)
    }
}
