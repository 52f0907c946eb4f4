import Foundation
import Wire

/// What the edge remembers across restarts: its last boot epoch and where each source
/// stands. Kept in `<state>/state.json`, replaced atomically.
public struct EdgeState: Codable, Sendable, Equatable {
    public var epoch: UInt32 = 0
    public var checkpoints: [String: FileCheckpoint] = [:]
    /// journald cursors by source name.
    public var cursors: [String: String] = [:]
    /// When these checkpoints were taken, in microseconds: the newest of the state file and
    /// the spooled frames wins at start.
    public var savedAtMicroseconds: Int64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey { case epoch, checkpoints, cursors, savedAtMicroseconds }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(UInt32.self, forKey: .epoch)
        checkpoints = try c.decodeIfPresent([String: FileCheckpoint].self, forKey: .checkpoints) ?? [:]
        cursors = try c.decodeIfPresent([String: String].self, forKey: .cursors) ?? [:]
        savedAtMicroseconds = try c.decodeIfPresent(Int64.self, forKey: .savedAtMicroseconds) ?? 0
    }

    public static func load(directory: String) -> EdgeState {
        let path = directory + "/state.json"
        guard let data = FileManager.default.contents(atPath: path), let state = try? JSONDecoder().decode(EdgeState.self, from: data) else {
            return EdgeState()
        }
        return state
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Durable.write(try encoder.encode(self), to: directory + "/state.json")
    }

    /// The epoch for a new start: later than every earlier one, and at least the time.
    public static func nextEpoch(after previous: UInt32, now: Date = Date()) -> UInt32 {
        let seconds = UInt32(clamping: Int64(now.timeIntervalSince1970))
        return max(seconds, previous == .max ? previous : previous + 1)
    }
}
