import Foundation
import Testing

@testable import WindowsEvents

/// `EvtxFollower` on files changed the ways Windows and copy jobs change them.
@Suite("EVTX follower")
struct EvtxFollowerTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/testdata/evtx/omerbenamram/samples").standardizedFileURL
    static var available: Bool { FileManager.default.fileExists(atPath: samples.path) }

    @Test(.enabled(if: available, "../shared/testdata/evtx is absent"))
    func wrapCopiesAndANewLog() throws {
        let original = [UInt8](try Data(contentsOf: Self.samples.appendingPathComponent("security.evtx")))
        let header = Array(original[0..<EvtxFile.fileHeaderSize])
        func chunk(_ i: Int) -> [UInt8] {
            Array(original[(EvtxFile.fileHeaderSize + i * EvtxFile.chunkSize)..<(EvtxFile.fileHeaderSize + (i + 1) * EvtxFile.chunkSize)])
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("follower-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("Security.evtx").path
        func put(_ bytes: [UInt8]) throws {
            // As rsync does: a new file renamed over the old one.
            let temp = path + ".tmp"
            try Data(bytes).write(to: URL(fileURLWithPath: temp))
            #expect(rename(temp, path) == 0)
        }
        func ids(_ f: inout EvtxFollower) -> [UInt64] {
            var all: [UInt64] = []
            while true {
                let batch = f.read(limit: 50)
                if batch.isEmpty { return all }
                all += batch.map(\.id)
            }
        }
        var follower = EvtxFollower(path: path, after: 0)
        #expect(follower.read(limit: 10).isEmpty, "no file yet")
        try put(header + chunk(0) + chunk(1))
        let first = ids(&follower)
        #expect(first.count > 100 && first == first.sorted() && Set(first).count == first.count)
        // The same log copied in place again: nothing new, nothing twice.
        try put(header + chunk(0) + chunk(1))
        #expect(ids(&follower).isEmpty)
        // Wrapped: the oldest chunk overwritten by a newer one (file order is not id order).
        try put(header + chunk(2) + chunk(1))
        let wrapped = ids(&follower)
        #expect(!wrapped.isEmpty && wrapped.min()! > first.max()! && wrapped == wrapped.sorted())
        // The place survives as text (the edge's state file), and reading goes on after it.
        var resumed = EvtxFollower(path: path, cursor: follower.cursor)
        try put(header + chunk(2) + chunk(3))
        let more = ids(&resumed)
        #expect(!more.isEmpty && more.min()! > wrapped.max()!)
        #expect(resumed.restarts == 0)
        // A new log (the old one cleared): numbers start again; all of it is read.
        let other = [UInt8](try Data(contentsOf: Self.samples.appendingPathComponent("new-user-security.evtx")))
        try put(other)
        let fresh = ids(&resumed)
        #expect(resumed.restarts == 1)
        #expect(fresh.first == 1 && fresh == fresh.sorted())
        var all = 0
        try EvtxFile(path: path).forEachEvent { _ in all += 1 }
        #expect(fresh.count == all)
    }

    /// Windows rewrites chunks in place: the size stays, and the time may too. Such a change
    /// is found by the rescan every `rescanSeconds` on the monotonic clock, not before.
    @Test(.enabled(if: available, "../shared/testdata/evtx is absent"))
    func aChangeThatKeepsSizeAndTimeIsFoundByTheRescan() throws {
        let original = [UInt8](try Data(contentsOf: Self.samples.appendingPathComponent("security.evtx")))
        let header = Array(original[0..<EvtxFile.fileHeaderSize])
        func chunk(_ i: Int) -> [UInt8] {
            Array(original[(EvtxFile.fileHeaderSize + i * EvtxFile.chunkSize)..<(EvtxFile.fileHeaderSize + (i + 1) * EvtxFile.chunkSize)])
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("follower-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("Security.evtx").path
        try Data(header + chunk(0) + chunk(1)).write(to: URL(fileURLWithPath: path))
        let start = ContinuousClock.now
        var follower = EvtxFollower(path: path, after: 0)
        var first: [UInt64] = []
        while case let batch = follower.read(limit: 1000, now: start), !batch.isEmpty { first += batch.map(\.id) }
        #expect(first.count > 100)
        // The oldest chunk overwritten by a newer one in place, the file's time put back.
        var before = stat()
        #expect(stat(path, &before) == 0)
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        let written = chunk(2).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(EvtxFile.fileHeaderSize)) }
        #expect(written == EvtxFile.chunkSize)
        close(fd)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        var after = stat()
        #expect(stat(path, &after) == 0 && after.st_size == before.st_size && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec
            && after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_ino == before.st_ino)
        #expect(follower.read(limit: 1000, now: start + .seconds(29)).isEmpty, "nothing looks changed before the rescan")
        let found = follower.read(limit: 1000, now: start + .seconds(31)).map(\.id)
        #expect(!found.isEmpty && found.min()! > first.max()!, "the rescan reads the new chunk")
    }
}
