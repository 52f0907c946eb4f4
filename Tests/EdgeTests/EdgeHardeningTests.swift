import Foundation
import Testing
import Wire

@testable import Edge

/// Issue 10 on the edge: a full disk, a damaged state file.
@Suite("Edge hardening")
struct EdgeHardeningTests {
    /// /dev/full answers every write with ENOSPC, as a full disk does. Foundation's
    /// `FileHandle.write(_:)` traps on it: the edge died on its next batch, and again after
    /// every restart.
    @Test func aFullDiskDoesNotKillTheJournal() throws {
        let journal = EventJournal(path: "/dev/full", maxBytes: 1 << 20, keep: 1)
        journal.append(Event(kind: .login, outcome: .failure, host: "h", user: "root", raw: "x"))
        journal.flush()
        journal.append(Event(kind: .login, outcome: .failure, host: "h", user: "root", raw: "y"))
        journal.flush()
        #expect(journal.failedWrites == 2)
    }

    /// A state file that cannot be read is moved aside and reported, and the next epoch is
    /// still past every spooled frame's (an epoch used before would reuse sealing nonces).
    @Test func anUnreadableStateFileIsReportedAndTheEpochNeverGoesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-state-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
        let (state, unreadable) = EdgeState.load(directory: dir)
        #expect(unreadable && state.epoch == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.json"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix("state.json.unreadable-") })
        #expect(EdgeState.load(directory: dir).unreadable == false, "reported once, then a fresh start")

        // The clock went back a day; the spool still holds a frame of a later epoch.
        let spool = try Spool(directory: dir + "/spool", maxBytes: 1 << 20)
        let later = UInt32(Date().timeIntervalSince1970) + 1000
        let frame = Frame(kind: .events, flags: [], dictionaryID: 0, edgeID: EdgeID(rawValue: "e")!, epoch: later, sequence: 7,
                          sendTimeMilliseconds: 0, payload: [1, 2, 3])
        try spool.add(frame, checkpoints: [:], savedAtMicroseconds: 0)
        #expect(spool.newestEpoch == later)
        let yesterday = Date().addingTimeInterval(-86_400)
        #expect(EdgeState.nextEpoch(after: max(state.epoch, spool.newestEpoch ?? 0), now: yesterday, nonce: 0) == later + 1)
        // The boot nonce: two starts in the same second with the state lost differ (almost always).
        let epochs = Set((0..<64).map { _ in EdgeState.nextEpoch(after: 0, now: yesterday) })
        #expect(epochs.count > 32)
        #expect(EdgeState.nextEpoch(after: UInt32.max, nonce: 9) == UInt32.max)
    }
}
