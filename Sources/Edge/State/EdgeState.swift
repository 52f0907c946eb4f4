import Foundation
import Wire

/// What the edge remembers across restarts: its last boot epoch and where each source
/// stands. Kept in `<state>/state.json`, replaced atomically.
package struct EdgeState: Codable, Sendable, Equatable {
    package var epoch: UInt32 = 0
    package var checkpoints: [String: FileCheckpoint] = [:]
    /// journald cursors by source name.
    package var cursors: [String: String] = [:]
    /// When these checkpoints were taken, in microseconds: the newest of the state file and
    /// the spooled frames wins at start.
    package var savedAtMicroseconds: Int64 = 0

    package init() {}

    enum CodingKeys: String, CodingKey { case epoch, checkpoints, cursors, savedAtMicroseconds }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(UInt32.self, forKey: .epoch)
        checkpoints = try c.decodeIfPresent([String: FileCheckpoint].self, forKey: .checkpoints) ?? [:]
        cursors = try c.decodeIfPresent([String: String].self, forKey: .cursors) ?? [:]
        savedAtMicroseconds = try c.decodeIfPresent(Int64.self, forKey: .savedAtMicroseconds) ?? 0
    }

    package static func load(directory: String) -> EdgeState {
        load(directory: directory).state
    }

    /// The state, and whether a state file was there but could not be read. An unreadable
    /// file is moved aside (`state.json.unreadable-<time>`, for whoever investigates) and
    /// reported by the caller: positions are lost, and the epoch must still never go back.
    package static func load(directory: String, now: Date = Date()) -> (state: EdgeState, unreadable: Bool) {
        let path = directory + "/state.json"
        guard let data = FileManager.default.contents(atPath: path) else { return (EdgeState(), false) }
        guard let state = try? JSONDecoder().decode(EdgeState.self, from: data) else {
            try? FileManager.default.moveItem(atPath: path, toPath: path + ".unreadable-\(Int64(now.timeIntervalSince1970))")
            return (EdgeState(), true)
        }
        return (state, false)
    }

    package func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Durable.write(try encoder.encode(self), to: directory + "/state.json")
    }

    /// The epoch for a new start: later than every earlier one known (`previous`: the state
    /// file's and every spooled frame's), at least the time, plus a random boot nonce.
    ///
    /// (epoch, sequence) is the sealing nonce: it must never repeat. When the state file is
    /// lost and the clock has gone back (air gaps drift), the time alone could give an epoch
    /// already used; the nonce (up to 4,095) makes that a 1-in-4,096 chance at worst rather
    /// than a certainty, and the spool's epochs make it impossible while frames are spooled.
    package static func nextEpoch(after previous: UInt32, now: Date = Date(), nonce: UInt32 = UInt32.random(in: 0..<4096)) -> UInt32 {
        let seconds = UInt32(clamping: Int64(now.timeIntervalSince1970))
        let base = max(seconds, previous == .max ? previous : previous + 1)
        let (mixed, overflow) = base.addingReportingOverflow(nonce)
        return overflow ? base : mixed
    }
}
