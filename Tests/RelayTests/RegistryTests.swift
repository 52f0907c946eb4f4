import Foundation
import Plumbing
import Relay
import TestSupport
import Testing
import Wire

/// The relay's own events about edges, and its memory of them across a restart.
@Suite("Edge registry", .serialized)
struct RegistryTests {
    @Test func replayProtectionSurvivesARelayRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        let frame = try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1)
        let first = try await RunningRelay.start(dataDirectory: directory)
        try await Send.udp(frame, port: first.udpPort)
        await first.wait { first.frames.count == 1 }
        await first.stop()  // saves the registry on shutdown
        let second = try await RunningRelay.start(dataDirectory: directory)
        try await Send.udp(frame, port: second.udpPort)  // a captured frame, replayed
        let next = try EdgeFixture.messages(events: [EdgeFixture.event(2)], sequence: 2)
        try await Send.udp(next, port: second.udpPort)
        await second.wait { second.frames.count == 1 }
        await second.stop()
        #expect(second.frames.map(\.frame.sequence) == [2], "the replayed frame was accepted again")
        #expect(second.counter("relay_duplicates_total") == 1)
        #expect(second.relayEvents.isEmpty, "no restart or loss raised: \(second.relayEvents.map(\.raw))")
    }

    @Test func restartedEdgeIsRaisedAndNotTakenForAReplay() async throws {
        let relay = try await RunningRelay.start()
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(1)], sequence: 1, epoch: 1000), port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 }
        try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(2)], sequence: 1, epoch: 2000), port: relay.udpPort)
        await relay.wait { relay.relayEvents.count == 1 }
        await relay.stop()
        #expect(relay.frames.count == 2)
        #expect(relay.relayEvents.first?.kind == .edgeRestarted)
        #expect(relay.relayEvents.first?.host == "web-01")
        #expect(relay.relayEvents.first?.raw?.contains("epoch 1000 became 2000") == true)
    }

    /// A dropped datagram is a loss once late frames had time to arrive; reordering is not.
    /// On a clock the test moves: "not yet" is checked on what the tick raised, at once.
    @Test func lossIsRaisedForGapsThatStayOpen() async throws {
        var policy = EdgeRegistry.Policy()
        policy.lossAfterMilliseconds = 10_000
        let clock = ManualWallClock(microseconds: WallClock.system.now)
        let relay = try await RunningRelay.start(policy: policy, clock: clock.clock)
        for seq in [1, 3, 2, 4, 7] as [UInt64] {  // 2 comes late; 5 and 6 never
            try await Send.udp(try EdgeFixture.messages(events: [EdgeFixture.event(Int(seq))], sequence: seq), port: relay.udpPort)
            await relay.wait { relay.frames.contains { $0.frame.sequence == seq } }
        }
        clock.advance(seconds: 9.9)
        #expect(relay.app.intake.tick().isEmpty, "a gap was called a loss before its time")
        clock.advance(seconds: 0.2)
        let raised = relay.app.intake.tick()
        #expect(raised.map(\.kind) == [.edgeLoss])
        await relay.wait { relay.relayEvents.count == 1 }
        #expect(relay.app.intake.tick().isEmpty, "raised once")
        await relay.stop()
        let loss = try #require(relay.relayEvents.first)
        #expect(loss.kind == .edgeLoss)
        #expect(loss.raw?.contains("lost 2 frame(s)") == true && loss.raw?.contains("5-6") == true, "\(loss.raw ?? "")")
        #expect(relay.app.intake.edges()["web-01"]?.framesLost == 2)
    }

    /// A killed edge stops its heartbeats: that silence is an alert of its own.
    @Test func silentEdgeIsRaisedAndClearedWhenHeardAgain() async throws {
        let clock = ManualWallClock(microseconds: WallClock.system.now)
        let relay = try await RunningRelay.start(clock: clock.clock)
        let heartbeat = FrameBody.heartbeat(Heartbeat(uptimeSeconds: 5))
        try await Send.udp(try EdgeFixture.messages(body: heartbeat, sequence: 1), port: relay.udpPort)
        await relay.wait { relay.frames.count == 1 }
        clock.advance(seconds: 30)
        #expect(relay.app.intake.tick().isEmpty)
        clock.advance(seconds: 61)
        #expect(relay.app.intake.tick().map(\.kind) == [.edgeSilent])
        clock.advance(seconds: 109)
        #expect(relay.app.intake.tick().isEmpty, "raised once, not every tick")
        try await Send.udp(try EdgeFixture.messages(body: heartbeat, sequence: 2), port: relay.udpPort)
        await relay.wait { relay.relayEvents.count == 2 }
        await relay.stop()
        #expect(relay.relayEvents.map(\.kind) == [.edgeSilent, .edgeSilent])
        #expect(relay.relayEvents.first?.severity == .high)
        #expect(relay.relayEvents.last?.outcome == .success && relay.relayEvents.last?.severity == .info)
    }
}
