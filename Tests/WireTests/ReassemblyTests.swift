import Testing

@testable import Wire

@Suite("Reassembly")
struct ReassemblyTests {
    static func verifiedPackets(edge: String = "web-01", sequence: UInt64 = 1, events: Int = 30, chunk: Int = 200) throws -> [Packet] {
        let id = EdgeID(rawValue: edge)!
        let key = Fixtures.passkey.edgeKey(for: id)
        let encoder = try FrameEncoder(edgeID: id, key: key, options: .init(compression: nil))
        let frame = try encoder.makeFrame(
            .events((0..<events).map(Fixtures.sampleEvent)), epoch: 1, sequence: sequence, sendTimeMilliseconds: 1000)
        return try encoder.packets(for: frame, maxChunkBytes: chunk).map {
            try Packet.verify($0[...]) { Fixtures.passkey.edgeKey(for: $0) }
        }
    }

    @Test func reorderedAndDuplicatedFragments() throws {
        let packets = try Self.verifiedPackets()
        #expect(packets.count > 3)
        var r = Reassembler()
        var rng = SplitMix(seed: 3)
        let order = packets.shuffled(using: &rng)
        var complete: Frame?
        for (i, p) in order.enumerated() {
            if i > 0, case .duplicate = r.add(order[i - 1], now: .now) {} else if i > 0 { Issue.record("duplicate not recognised") }
            if case .complete(let f) = r.add(p, now: .now) { complete = f }
        }
        let frame = try #require(complete)
        #expect(frame.payload == packets.flatMap { Array($0.chunk) })
        #expect(r.pendingFrames == 0 && r.totalBytes == 0)
        #expect(r.statistics.completed == 1)
    }

    @Test func conflictingFragmentKeepsTheFirst() throws {
        let packets = try Self.verifiedPackets()
        var r = Reassembler()
        #expect(r.add(packets[0], now: .now) == .pending)
        var altered = packets[0]
        altered.chunk = ArraySlice(altered.chunk.map { $0 ^ 1 })
        guard case .rejected = r.add(altered, now: .now) else { Issue.record("conflict accepted"); return }
        var wrongCount = packets[1]
        wrongCount.count += 1
        guard case .rejected = r.add(wrongCount, now: .now) else { Issue.record("inconsistent count accepted"); return }
        var last: Reassembler.Outcome = .pending
        for p in packets.dropFirst() { last = r.add(p, now: .now) }
        guard case .complete(let frame) = last else { Issue.record("genuine frame lost"); return }
        #expect(frame.payload == packets.flatMap { Array($0.chunk) })
        #expect(r.statistics.conflicts == 2)
    }

    @Test func expiresIncompleteFrames() throws {
        let packets = try Self.verifiedPackets()
        var r = Reassembler(limits: .init(timeout: .seconds(30)))
        let start = ContinuousClock.now
        _ = r.add(packets[0], now: start)
        #expect(r.expire(now: start + .seconds(29)).isEmpty)
        #expect(r.expire(now: start + .seconds(30)).count == 1)
        #expect(r.pendingFrames == 0 && r.totalBytes == 0)
    }

    /// A flooding edge fills only its own share: another edge's pending frame survives, and
    /// when the total is full, new frames are refused rather than old ones evicted.
    @Test func floodingEdgeCannotEvictAnother() throws {
        let limits = Reassembler.Limits(maxBytesPerEdge: 4000, maxFramesPerEdge: 8, maxTotalBytes: 6000)
        var r = Reassembler(limits: limits)
        let genuine = try Self.verifiedPackets(edge: "dc-01", events: 5, chunk: 200)
        #expect(genuine.count > 2)
        #expect(r.add(genuine[0], now: .now) == .pending)
        for seq in 1...50 {
            let flood = try Self.verifiedPackets(edge: "noisy", sequence: UInt64(seq))
            _ = r.add(flood[0], now: .now)
        }
        #expect(r.totalBytes <= limits.maxTotalBytes)
        #expect(r.statistics.evicted > 0)
        var last: Reassembler.Outcome = .pending
        for p in genuine.dropFirst() { last = r.add(p, now: .now) }
        guard case .complete = last else { Issue.record("genuine frame was evicted: \(last)"); return }
    }

    /// Over its frame quota an edge loses its own oldest pending frames, in arrival order;
    /// a frame completed in between leaves that order.
    @Test func anEdgeOverItsQuotaLosesItsOldestFramesFirst() throws {
        var r = Reassembler(limits: .init(maxFramesPerEdge: 4))
        let frames = try (1...7).map { try Self.verifiedPackets(edge: "noisy", sequence: UInt64($0)) }
        let start = ContinuousClock.now
        for n in 0..<6 { #expect(r.add(frames[n][0], now: start + .milliseconds(n)) == .pending) }
        func pending(_ sequence: UInt64) -> Bool { r.isPending(.init(edgeID: EdgeID(rawValue: "noisy")!, epoch: 1, sequence: sequence)) }
        #expect((1...6).map(pending) == [false, false, true, true, true, true])
        var last: Reassembler.Outcome = .pending
        for p in frames[3].dropFirst() { last = r.add(p, now: start + .milliseconds(10)) }
        guard case .complete = last else { Issue.record("frame 4 did not complete: \(last)"); return }
        #expect(r.add(frames[6][0], now: start + .milliseconds(11)) == .pending)
        #expect((1...7).map(pending) == [false, false, true, false, true, true, true], "room without evicting: 4 had completed")
        #expect(r.add(try Self.verifiedPackets(edge: "noisy", sequence: 8)[0], now: start + .milliseconds(12)) == .pending)
        #expect(!pending(3) && pending(5) && pending(8), "then the oldest, 3, goes")
        #expect(r.statistics.evicted == 3)
    }

    @Test func globalOverflowRefusesNewFrames() throws {
        var r = Reassembler(limits: .init(maxBytesPerEdge: 100_000, maxTotalBytes: 500))
        let a = try Self.verifiedPackets(edge: "a", chunk: 300)
        let b = try Self.verifiedPackets(edge: "b", chunk: 300)
        #expect(r.add(a[0], now: .now) == .pending)
        guard case .rejected(let e) = r.add(b[0], now: .now) else { Issue.record("overflow accepted"); return }
        #expect(e == .oversized)
        #expect(r.statistics.overflow == 1)
        #expect(r.isPending(.init(edgeID: EdgeID(rawValue: "a")!, epoch: 1, sequence: 1)))
    }

    @Test func oversizedFrameRefused() throws {
        var r = Reassembler(limits: .init(maxPayloadBytes: 100))
        let p = try Self.verifiedPackets()
        guard case .rejected = r.add(p[0], now: .now) else { Issue.record("oversized frame accepted"); return }
        #expect(r.pendingFrames == 0)
    }
}

@Suite("Replay protection")
struct ReplayTests {
    @Test func windowAcceptsOnceAndReportsGaps() {
        var w = ReplayWindow()
        #expect(w.check(1) == .fresh)
        #expect(w.accept(1) == nil)
        #expect(w.check(1) == .duplicate)
        #expect(w.accept(5) == 2...4)
        #expect(w.check(3) == .fresh)
        w.accept(3)
        #expect(w.check(3) == .duplicate)
        #expect(w.missingCount == 2)  // 2 and 4
        w.accept(2000)
        #expect(w.check(5) == .tooOld)
        #expect(w.check(2000 - 1023) == .fresh)
        #expect(w.check(2000 - 1024) == .tooOld)
        #expect(w.check(2000) == .duplicate)
    }

    @Test func windowShiftsAcrossWordBoundaries() {
        var w = ReplayWindow()
        var rng = SplitMix(seed: 11)
        var accepted = Set<UInt64>()
        var highest: UInt64 = 0
        for _ in 0..<5000 {
            let s = highest + (rng.next() % 80) &- 40
            guard s < UInt64.max / 2 else { continue }
            let expected: ReplayWindow.Verdict =
                accepted.contains(s) ? .duplicate : (highest >= 1024 && s <= highest - 1024 && !accepted.isEmpty ? .tooOld : .fresh)
            if s > highest || highest - s < 1024 || accepted.isEmpty {
                #expect(w.check(s) == expected, "sequence \(s), highest \(highest)")
            }
            if w.check(s) == .fresh {
                w.accept(s)
                accepted.insert(s)
                highest = max(highest, s)
            }
        }
    }

    @Test func epochsRestartAndLateFramesOfThePreviousEpoch() {
        var s = EdgeSequenceState()
        #expect(s.accept(epoch: 100, sequence: 1).newEpoch)
        _ = s.accept(epoch: 100, sequence: 2)
        // Restart: new epoch, sequence starts again at 1; not a replay.
        #expect(s.check(epoch: 200, sequence: 1) == .fresh)
        let restart = s.accept(epoch: 200, sequence: 1)
        #expect(restart.newEpoch && restart.replacedEpoch == 100 && restart.gap == nil)
        // A frame of the old epoch still in flight counts once.
        #expect(s.check(epoch: 100, sequence: 3) == .fresh)
        _ = s.accept(epoch: 100, sequence: 3)
        #expect(s.check(epoch: 100, sequence: 3) == .duplicate)
        #expect(s.check(epoch: 100, sequence: 2) == .duplicate)
        // Several restarts later, frames of earlier epochs still count once each.
        _ = s.accept(epoch: 300, sequence: 4)
        #expect(s.check(epoch: 100, sequence: 9) == .fresh)
        #expect(s.check(epoch: 100, sequence: 3) == .duplicate)
        // An epoch never seen between remembered ones (the edge restarted while unreachable).
        #expect(s.check(epoch: 250, sequence: 1) == .fresh)
        _ = s.accept(epoch: 250, sequence: 1)
        #expect(s.check(epoch: 250, sequence: 1) == .duplicate)
        // First frame of an epoch above 1 reports the frames before it as a gap.
        #expect(s.accept(epoch: 400, sequence: 4).gap == 1...3)
        // Beyond the remembered epochs, older ones are refused.
        for e in 401...420 as ClosedRange<UInt32> { _ = s.accept(epoch: e, sequence: 1) }
        #expect(s.check(epoch: 100, sequence: 50) == .staleEpoch)
        #expect(s.check(epoch: 300, sequence: 50) == .staleEpoch)
    }

    @Test func freshness() {
        let f = Freshness(maxAge: .seconds(60), maxFuture: .seconds(5))
        #expect(f.check(sendTimeMilliseconds: 1_000_000, nowMilliseconds: 1_060_000) == .fresh)
        #expect(f.check(sendTimeMilliseconds: 1_000_000, nowMilliseconds: 1_060_001) == .tooOld(milliseconds: 60_001))
        #expect(f.check(sendTimeMilliseconds: 1_005_001, nowMilliseconds: 1_000_000) == .inFuture(milliseconds: 5001))
    }

    /// Found by the fuzzer: a send time of Int64.min overflowed the age computation.
    @Test func freshnessWithExtremeSendTimes() {
        let f = Freshness()
        #expect(f.check(sendTimeMilliseconds: .min, nowMilliseconds: 0) == .tooOld(milliseconds: .max))
        #expect(f.check(sendTimeMilliseconds: .max, nowMilliseconds: -1) == .inFuture(milliseconds: .max))
        #expect(f.check(sendTimeMilliseconds: .min, nowMilliseconds: .max) == .tooOld(milliseconds: .max))
        let unbounded = Freshness(maxAge: .seconds(Int64.max), maxFuture: .seconds(Int64.max))
        #expect(unbounded.check(sendTimeMilliseconds: 0, nowMilliseconds: 1) == .fresh)
    }
}
