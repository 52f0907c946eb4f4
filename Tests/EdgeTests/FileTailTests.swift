import Foundation
import Testing

@testable import Edge

/// FileTail over real files, rotated the way logrotate does it (rename and create, or
/// copy then truncate).
@Suite("Following a file")
struct FileTailTests {
    let dir: URL
    let log: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        log = dir.appendingPathComponent("auth.log").path
    }

    func append(_ text: String, to path: String? = nil) throws {
        let p = path ?? log
        if !FileManager.default.fileExists(atPath: p) { FileManager.default.createFile(atPath: p, contents: nil) }
        let h = try #require(FileHandle(forWritingAtPath: p))
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }

    func texts(_ lines: [FileTail.Line]) -> [String] { lines.map { String(decoding: $0.bytes, as: UTF8.self) } }

    /// A FIFO at the log path (any local user who can write to the log directory can make
    /// one) is not opened for reading: that blocks until a writer comes, and the edge with
    /// it. The tail says why it is not following, and takes the file once it is a file.
    @Test func aFIFOAtTheLogPathIsRefusedWithoutBlocking() throws {
        #expect(mkfifo(log, 0o644) == 0)
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        let started = ContinuousClock.now
        #expect(tail.read().isEmpty)
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(tail.state == "not a regular file")
        try FileManager.default.removeItem(atPath: log)
        try append("real 1\n")
        #expect(texts(tail.read()) == ["real 1"])
        #expect(tail.state == "following")
    }

    @Test func startAtEndThenFollowsAndHoldsPartialLines() throws {
        try append("old 1\nold 2\n")
        let tail = FileTail(path: log, checkpoint: nil, startAt: .end)
        #expect(tail.read().isEmpty)
        try append("new 1\nnew ")
        #expect(texts(tail.read()) == ["new 1"])
        try append("2\r\nnew 3\n")
        #expect(texts(tail.read()) == ["new 2", "new 3"])
        #expect(tail.read().isEmpty)
    }

    @Test func startAtBeginningAndWaitingForTheFile() throws {
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        #expect(tail.read().isEmpty)
        #expect(tail.state == "waiting")
        try append("a\nb\n")
        #expect(texts(tail.read()) == ["a", "b"])
        #expect(tail.state == "following")
    }

    /// logrotate's default: rename auth.log to auth.log.1, create a new auth.log.
    @Test func renameAndCreate() throws {
        try append("1\n")
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        #expect(texts(tail.read()) == ["1"])
        try append("2\nhalf")  // written before the rotation, not yet read
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try append("3\n")
        #expect(texts(tail.read()) == ["2", "half", "3"])
        try append("4\n")
        #expect(texts(tail.read()) == ["4"])
        #expect(tail.rotations == 1)
    }

    /// logrotate's copytruncate: copy auth.log to auth.log.1, truncate auth.log. Lines
    /// written before the copy but not yet read come from the copy.
    @Test func copyTruncate() throws {
        try append("1\n")
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        #expect(texts(tail.read()) == ["1"])
        try append("2\n3\n")
        try FileManager.default.copyItem(atPath: log, toPath: log + ".1")
        let h = try #require(FileHandle(forWritingAtPath: log))
        try h.truncate(atOffset: 0)
        try h.close()
        try append("4\n")
        #expect(texts(tail.read()) == ["2", "3", "4"])
        #expect(tail.rotations == 1)
    }

    @Test func fileDisappearsAndComesBack() throws {
        try append("1\n")
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        #expect(texts(tail.read()) == ["1"])
        try FileManager.default.removeItem(atPath: log)
        #expect(tail.read().isEmpty)
        try append("2\n")
        #expect(texts(tail.read()) == ["2"])
    }

    @Test func resumesFromItsCheckpoint() throws {
        try append("1\n2\npart")
        let first = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        #expect(texts(first.read()) == ["1", "2"])
        let checkpoint = try #require(first.checkpoint)
        #expect(checkpoint.offset == 4)
        try append("ial\n3\n")
        let second = FileTail(path: log, checkpoint: checkpoint, startAt: .end)
        #expect(texts(second.read()) == ["partial", "3"])
        // Round trip through JSON, as the state file does.
        let decoded = try JSONDecoder().decode(FileCheckpoint.self, from: JSONEncoder().encode(second.checkpoint))
        #expect(decoded == second.checkpoint)
    }

    @Test func resumesAcrossARotationWhileStopped() throws {
        try append("1\n")
        let first = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        _ = first.read()
        let checkpoint = try #require(first.checkpoint)
        try append("2\n")
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try append("3\n")
        let second = FileTail(path: log, checkpoint: checkpoint, startAt: .end)
        #expect(texts(second.read()) == ["2", "3"])
    }

    @Test func resumesAcrossACopyTruncateWhileStopped() throws {
        try append("first line long enough\n")
        let first = FileTail(path: log, checkpoint: nil, startAt: .beginning)
        _ = first.read()
        let checkpoint = try #require(first.checkpoint)
        try append("2\n")
        try FileManager.default.copyItem(atPath: log, toPath: log + ".1")
        let h = try #require(FileHandle(forWritingAtPath: log))
        try h.truncate(atOffset: 0)
        try h.close()
        try append("3\n")
        let second = FileTail(path: log, checkpoint: checkpoint, startAt: .end)
        #expect(texts(second.read()) == ["2", "3"])
    }

    @Test func overlongLinesAreCutAndBinaryIsHarmless() throws {
        let tail = FileTail(path: log, checkpoint: nil, startAt: .beginning, maxLineBytes: 10)
        try append(String(repeating: "x", count: 25) + "\nok\n")
        var garbage = Data((0..<300).map { UInt8($0 % 256) })
        garbage.append(0x0A)
        let h = try #require(FileHandle(forWritingAtPath: log))
        try h.seekToEnd()
        try h.write(contentsOf: garbage)
        try h.close()
        let lines = tail.read()
        #expect(texts(Array(lines.prefix(2))) == [String(repeating: "x", count: 10), "ok"])
        #expect(tail.overlongLines >= 1)
        #expect(lines.allSatisfy { $0.bytes.count <= 10 })
    }
}
