import Foundation
import Testing
import Wire

@testable import Edge

@Suite("Spool files")
struct SpoolFileTests {
    static func entry(payload: Int = 900) -> Spool.Entry {
        Spool.Entry(
            epoch: 1_796_000_000, sequence: 42, kind: 1, flags: 3, dictionary: 2,
            payload: (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 31) },
            checkpoints: [
                "/var/log/auth.log": FileCheckpoint(path: "/var/log/auth.log", device: 2049, inode: 1_234_567, offset: 987_654,
                                                    fingerprint: 0xDEAD_BEEF_0000_0001, fingerprintBytes: 256),
                "/var/log/secure": FileCheckpoint(path: "/var/log/secure", device: 0, inode: 0, offset: 0, fingerprint: 0, fingerprintBytes: 0),
            ],
            cursors: ["journald": "s=0123456789abcdef;i=1f2;b=feed;m=5a;t=600dd;x=cafe", "eventlog:Security": "<BookmarkList/>"],
            savedAtMicroseconds: 1_796_000_000_123_456)
    }

    @Test func anEntryComesBackAsItWasWrittenAndSmallerThanItsJSON() throws {
        let entry = Self.entry()
        let bytes = SpoolFile.encode(entry)
        #expect(SpoolFile.decode(bytes) == entry)
        // The payload as it is, not in base64 inside JSON.
        let legacy = try JSONEncoder().encode(SpoolFile.Legacy(entry))
        #expect(bytes.count < legacy.count * 3 / 4, "\(bytes.count) bytes, JSON \(legacy.count)")
        let empty = Spool.Entry(epoch: 0, sequence: 0, kind: 0, flags: 0, dictionary: 0, payload: [], checkpoints: [:], cursors: [:], savedAtMicroseconds: -1)
        #expect(SpoolFile.decode(SpoolFile.encode(empty)) == empty)
    }

    /// An edge upgraded with frames spooled by the version before (JSON, base64) sends them.
    @Test func aFileOfTheEarlierJSONFormatIsRead() throws {
        let entry = Self.entry()
        let legacy = try JSONEncoder().encode(SpoolFile.Legacy(entry))
        #expect(SpoolFile.decode(Array(legacy)) == entry)
        var withoutCursors = SpoolFile.Legacy(entry)
        withoutCursors.cursors = nil
        var expected = entry
        expected.cursors = [:]
        #expect(SpoolFile.decode(Array(try JSONEncoder().encode(withoutCursors))) == expected)
        // A file as the earlier edge wrote it (JSONEncoder of its Entry), byte for byte.
        let written = #"{"epoch":5,"sequence":7,"kind":1,"flags":0,"dictionary":2,"payload":"AQID","#
            + #""checkpoints":{"\/var\/log\/auth.log":{"path":"\/var\/log\/auth.log","device":2049,"inode":12,"offset":300,"#
            + #""fingerprint":99,"fingerprintBytes":256}},"cursors":{"journald":"s=1"},"savedAtMicroseconds":1796000000000000}"#
        let old = try #require(SpoolFile.decode(Array(written.utf8)))
        #expect(old.epoch == 5 && old.sequence == 7 && old.kind == 1 && old.dictionary == 2 && old.payload == [1, 2, 3])
        #expect(old.checkpoints["/var/log/auth.log"]?.offset == 300 && old.cursors == ["journald": "s=1"])
        #expect(old.savedAtMicroseconds == 1_796_000_000_000_000)
    }

    /// Every cut and every flipped byte of a file is refused (its checksum), never a trap;
    /// lengths and positions are checked even under a right checksum.
    @Test func aDamagedFileIsRefusedNeverTrusted() {
        let bytes = SpoolFile.encode(Self.entry(payload: 40))
        for end in 0..<bytes.count {
            #expect(SpoolFile.decode(Array(bytes[..<end])) == nil, "cut at \(end)")
        }
        #expect(SpoolFile.decode(bytes + [0]) == nil, "a byte after the end")
        for i in 0..<bytes.count {
            var damaged = bytes
            damaged[i] ^= 0x80
            #expect(SpoolFile.decode(damaged) == nil, "byte \(i) flipped")
        }
        func resealed(_ body: [UInt8]) -> [UInt8] {
            var out = Array(body.dropLast(4))
            out.appendInteger(CRC32.of(out))
            return out
        }
        // A payload length of 4 GiB in a small file, under a right checksum.
        var huge = bytes
        let at = 4 + 4 + 8 + 3 + 8
        huge.replaceSubrange(at..<(at + 4), with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(SpoolFile.decode(resealed(huge)) == nil)
        #expect(SpoolFile.decode(resealed(bytes)) == Self.entry(payload: 40), "resealing alone changes nothing")
        // A checkpoint that no follower writes: a fingerprint of 4 GiB, a negative offset.
        var wild = Self.entry(payload: 8)
        wild.checkpoints["/var/log/auth.log"]?.fingerprintBytes = Int(UInt32.max)
        #expect(SpoolFile.decode(SpoolFile.encode(wild)) == nil)
        wild = Self.entry(payload: 8)
        wild.checkpoints["/var/log/auth.log"]?.offset = -5
        #expect(SpoolFile.decode(SpoolFile.encode(wild)) == nil)
    }

    /// A damaged file in the spool is removed and counted, and the others are still sent.
    @Test func aDamagedSpoolFileIsCountedAndTheOthersRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spool = try Spool(directory: dir, maxBytes: 1 << 20)
        for sequence in 1...3 as ClosedRange<UInt64> {
            let frame = Frame(kind: .events, flags: [], dictionaryID: 0, edgeID: EdgeID(rawValue: "e")!, epoch: 5, sequence: sequence,
                              sendTimeMilliseconds: 0, payload: [1, 2, 3])
            try spool.add(frame, checkpoints: [:], savedAtMicroseconds: Int64(sequence))
        }
        let names = spool.names()
        #expect(names.count == 3 && spool.bytes == names.reduce(0) { $0 + ((try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + $1)).count) ?? 0) })
        try Data("AGS1 cut short".utf8).write(to: URL(fileURLWithPath: dir + "/" + names[1]))
        #expect(spool.entry(names[0])?.sequence == 1)
        #expect(spool.entry(names[1]) == nil && spool.unreadable == 1)
        #expect(spool.entry(names[2])?.sequence == 3)
        #expect(spool.names() == [names[0], names[2]])
        // A whole file under another frame's name (a copy, a rename) is not that frame.
        try FileManager.default.copyItem(atPath: dir + "/" + names[2], toPath: dir + "/" + Spool.name(epoch: 5, sequence: 9))
        let renamed = try Spool(directory: dir, maxBytes: 1 << 20)
        #expect(renamed.entry(Spool.name(epoch: 5, sequence: 9)) == nil && renamed.unreadable == 1)
        // A file far larger than any the spool writes is not read into memory.
        let big = Spool.name(epoch: 5, sequence: 10)
        #expect(FileManager.default.createFile(atPath: dir + "/" + big, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + big))
        try handle.truncate(atOffset: UInt64(SpoolFile.maxBytes) + 1)
        try handle.close()
        let withBig = try Spool(directory: dir, maxBytes: 1 << 30)
        #expect(withBig.entry(big) == nil && withBig.unreadable == 1 && !FileManager.default.fileExists(atPath: dir + "/" + big))
        // A file gone from the disk leaves the spool's count; nothing is counted as damaged.
        try FileManager.default.removeItem(atPath: dir + "/" + names[0])
        #expect(renamed.entry(names[0]) == nil && renamed.unreadable == 1 && renamed.names() == [names[2]])
    }
}
