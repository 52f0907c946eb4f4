import Foundation
import Platform
import Synchronization
import Wire

/// Frames waiting to be sent (or, over TCP, sent recently enough that a broken connection
/// may have lost them), one file each in `<state>/spool/`, named so that listing sorts them
/// by epoch then sequence. Each file also holds the source checkpoints after its frame:
/// written before the state file, it lets a crash between the two resume exactly.
///
/// Bounded: past `maxBytes` the oldest frames are dropped, and counted.
package final class Spool: Sendable {
    package struct Entry: Sendable, Equatable {
        package var epoch: UInt32
        package var sequence: UInt64
        package var kind: UInt8
        package var flags: UInt8
        package var dictionary: UInt8
        package var payload: [UInt8]
        package var checkpoints: [String: FileCheckpoint]
        package var cursors: [String: String]
        package var savedAtMicroseconds: Int64

        package func frame(edgeID: EdgeID, sendTimeMilliseconds: Int64) -> Frame {
            Frame(
                kind: FrameKind(rawValue: kind), flags: FrameFlags(rawValue: flags), dictionaryID: dictionary, edgeID: edgeID,
                epoch: epoch, sequence: sequence, sendTimeMilliseconds: sendTimeMilliseconds, payload: payload)
        }
    }

    package let directory: String
    package let maxBytes: Int
    private struct State {
        /// Bytes of each spooled frame's file, by name.
        var sizes: [String: Int] = [:]
        /// Their sum.
        var total = 0
        var dropped = 0
        var unreadable = 0
    }

    private let state = Mutex(State())

    /// Frames dropped to stay within `maxBytes`.
    package var dropped: Int { state.withLock { $0.dropped } }
    /// Spooled frames that could not be read back (a damaged file) and were removed.
    package var unreadable: Int { state.withLock { $0.unreadable } }

    package init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var sizes: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            if name.hasSuffix(".tmp") {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            } else if name.hasSuffix(".frame") {
                let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0
                sizes[name] = size ?? 0
            }
        }
        state.withLock {
            $0.sizes = sizes
            $0.total = sizes.values.reduce(0, +)
        }
    }

    static func name(epoch: UInt32, sequence: UInt64) -> String {
        String(format: "%010u-%020llu.frame", epoch, sequence)
    }

    /// Writes `frame` durably; drops the oldest entries beyond the bound.
    package func add(_ frame: Frame, checkpoints: [String: FileCheckpoint], cursors: [String: String] = [:], savedAtMicroseconds: Int64) throws {
        let entry = Entry(
            epoch: frame.epoch, sequence: frame.sequence, kind: frame.kind.rawValue, flags: frame.flags.rawValue,
            dictionary: frame.dictionaryID, payload: frame.payload, checkpoints: checkpoints, cursors: cursors,
            savedAtMicroseconds: savedAtMicroseconds)
        let data = Data(SpoolFile.encode(entry))
        let name = Self.name(epoch: frame.epoch, sequence: frame.sequence)
        try Durable.write(data, to: directory + "/" + name)
        let victims = state.withLock { s -> [String] in
            s.total += data.count - (s.sizes[name] ?? 0)
            s.sizes[name] = data.count
            guard s.total > maxBytes else { return [] }
            var victims: [String] = []
            for old in s.sizes.keys.sorted() where s.total > maxBytes && old != name {
                victims.append(old)
                s.total -= s.sizes.removeValue(forKey: old) ?? 0
            }
            s.dropped += victims.count
            return victims
        }
        for v in victims { try? FileManager.default.removeItem(atPath: directory + "/" + v) }
    }

    /// Names of the spooled frames, oldest first.
    package func names() -> [String] {
        state.withLock { $0.sizes.keys.sorted() }
    }

    /// The entry spooled under `name`; nil when there is none to send. A damaged file (its
    /// checksum, or a frame other than its name says) is removed and counted in
    /// `unreadable`; a file gone from the disk leaves the count; a file that cannot be read
    /// just now (out of descriptors) stays, for the next try.
    package func entry(_ name: String) -> Entry? {
        let path = directory + "/" + name
        if let size = ReadableFile.facts(of: path)?.size, size > SpoolFile.maxBytes {
            state.withLock { $0.unreadable += 1 }
            remove(name)
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            if !FileManager.default.fileExists(atPath: path) { state.withLock { s in s.total -= s.sizes.removeValue(forKey: name) ?? 0 } }
            return nil
        }
        guard let entry = SpoolFile.decode(Array(data)), Self.name(epoch: entry.epoch, sequence: entry.sequence) == name else {
            state.withLock { $0.unreadable += 1 }
            remove(name)
            return nil
        }
        return entry
    }

    package func remove(_ name: String) {
        state.withLock { s in s.total -= s.sizes.removeValue(forKey: name) ?? 0 }
        try? FileManager.default.removeItem(atPath: directory + "/" + name)
    }

    package var count: Int { state.withLock { $0.sizes.count } }

    package var bytes: Int { state.withLock { $0.total } }

    /// The highest epoch among the spooled frames (from their names), if any.
    package var newestEpoch: UInt32? {
        names().compactMap { UInt32($0.prefix(10)) }.max()
    }

    /// The newest entry's positions, for resuming after a crash.
    package func newestPositions() -> (checkpoints: [String: FileCheckpoint], cursors: [String: String], savedAtMicroseconds: Int64)? {
        guard let last = names().last, let entry = entry(last) else { return nil }
        return (entry.checkpoints, entry.cursors, entry.savedAtMicroseconds)
    }
}
