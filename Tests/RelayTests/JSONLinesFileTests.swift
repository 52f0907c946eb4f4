import Foundation
import Plumbing
import Testing

/// The rotating JSON-lines file both journals write (events.jsonl, incidents.jsonl).
@Suite("JSON lines file")
struct JSONLinesFileTests {
    static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func line(_ n: Int) -> [UInt8] { Array("{\"n\": \(String(format: "%04d", n))}\n".utf8) }  // 12 bytes

    @Test func rotatesBeforeItPassesTheLimitAndKeepsTheNewest() throws {
        let dir = try Self.directory()
        let path = dir + "/events.jsonl"
        let file = JSONLinesFile(path: path, maxBytes: 40, keep: 2, permissions: 0o640)
        for n in 0..<20 { file.write(Self.line(n)) }
        file.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"])
        var text = ""
        for name in ["events.jsonl.2", "events.jsonl.1", "events.jsonl"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            #expect(data.count <= 40, "\(name) holds \(data.count) bytes")
            text += String(decoding: data, as: UTF8.self)
        }
        // Three lines a file: the last eight lines, in order, nothing cut.
        #expect(text == (12..<20).map { String(decoding: Self.line($0), as: UTF8.self) }.joined())
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        // Appending after a restart goes on from the file's size.
        let again = JSONLinesFile(path: path, maxBytes: 40, keep: 2)
        again.write(Self.line(20))
        again.close()
        let size = try Data(contentsOf: URL(fileURLWithPath: path)).count
        #expect(size == 36, "\(size) bytes")
    }

    @Test func keepZeroLeavesOneFile() throws {
        let dir = try Self.directory()
        let file = JSONLinesFile(path: dir + "/i.jsonl", maxBytes: 30, keep: 0)
        for n in 0..<10 { file.write(Self.line(n)) }
        file.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["i.jsonl"])
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/i.jsonl")), as: UTF8.self).hasSuffix("0009}\n"))
    }

    /// A full disk: each write is counted as failed, none stops the program.
    @Test func aFullDiskIsCounted() {
        let file = JSONLinesFile(path: "/dev/full", maxBytes: 1 << 20, keep: 1)
        for n in 0..<3 { file.write(Self.line(n)) }
        #expect(file.failedWrites == 3)
    }
}
