import Foundation
import Testing

@testable import Edge
@testable import Platform

/// The Linux branches of `Sources/Platform` (the Windows ones are never compiled here):
/// every file source and state file goes through them.
@Suite("Platform: files read by position and written durably")
struct PlatformTests {
    /// The pipe to journalctl closes on exec from the moment it exists: pipe2 is found in
    /// this libc (else the pipe would be made, then marked, and another program started in
    /// between by another thread would get both ends).
    @Test func theChildsPipeClosesOnExecFromTheStart() {
        #expect(dlsym(nil, "pipe2") != nil, "glibc has pipe2 since 2.9")
        var fds: [Int32] = [-1, -1]
        #expect(ChildProcess.closeOnExecPipe(&fds))
        defer { close(fds[0]); close(fds[1]) }
        #expect(fcntl(fds[0], F_GETFD) & FD_CLOEXEC != 0 && fcntl(fds[1], F_GETFD) & FD_CLOEXEC != 0)
    }

    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "platform-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aRegularFileIsReadAtAnyOffsetAndAnythingElseIsRefusedWithoutWaiting() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("0123456789".utf8).write(to: URL(fileURLWithPath: dir + "/log"))
        let file = try #require(ReadableFile.open(dir + "/log"))
        var buffer = [UInt8]()
        #expect(file.read(&buffer, count: 4, at: 3) == 4 && buffer == Array("3456".utf8))
        #expect(file.read(&buffer, count: 4, at: 8) == 2 && buffer.prefix(2) == Array("89".utf8)[...])
        #expect(file.read(&buffer, count: 4, at: 10) == 0)
        #expect(file.read(&buffer, count: 4, at: 1 << 40) == 0)
        #expect(file.size == 10 && file.opened.isRegular)

        // A FIFO would block an open for reading until a writer came: refused at once.
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        let started = ContinuousClock.now
        #expect(ReadableFile.open(dir + "/fifo") == nil)
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(ReadableFile.isOtherThanAFile(dir + "/fifo"))
        #expect(ReadableFile.open(dir) == nil && ReadableFile.isOtherThanAFile(dir))
        #expect(ReadableFile.open(dir + "/absent") == nil && !ReadableFile.isOtherThanAFile(dir + "/absent"))
        // A link to a file is followed; the link itself is not "something else".
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/log")
        #expect(!ReadableFile.isOtherThanAFile(dir + "/link") && ReadableFile.open(dir + "/link") != nil)
    }

    @Test func aFileKeepsItsIdentityWhenRenamedAndAReplacementHasAnother() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("a\n".utf8).write(to: URL(fileURLWithPath: dir + "/log"))
        let before = try #require(ReadableFile.facts(of: dir + "/log"))
        let open = try #require(ReadableFile.open(dir + "/log"))
        try FileManager.default.moveItem(atPath: dir + "/log", toPath: dir + "/log.1")
        try Data("bb\n".utf8).write(to: URL(fileURLWithPath: dir + "/log"))
        let renamed = try #require(ReadableFile.facts(of: dir + "/log.1"))
        let replacement = try #require(ReadableFile.facts(of: dir + "/log"))
        #expect(renamed.isSameFile(as: before) && open.opened.isSameFile(as: before))
        #expect(!replacement.isSameFile(as: before) && replacement.size == 3)
        #expect(ReadableFile.facts(of: dir + "/absent") == nil)
    }

    @Test func aMappedFileHoldsTheFileAndAnEmptyOneIsNotMapped() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("line one\nline two\n".utf8).write(to: URL(fileURLWithPath: dir + "/log"))
        let mapped = try #require(MappedFile(path: dir + "/log"))
        #expect(Array(mapped.bytes) == Array("line one\nline two\n".utf8))
        mapped.unmap()
        try Data().write(to: URL(fileURLWithPath: dir + "/empty"))
        #expect(MappedFile(path: dir + "/empty") == nil && MappedFile(path: dir) == nil)
    }

    /// The edge's state file is replaced through `path.tmp`. A link planted there was
    /// followed before (open with O_TRUNC, no O_NOFOLLOW) and the file it named was
    /// overwritten with the state: now the link is removed and the temporary file created
    /// new, so the named file is untouched.
    @Test func aReplacementDoesNotWriteThroughALinkPlantedAtItsTemporaryName() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: dir + "/victim"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/state.json.tmp", withDestinationPath: dir + "/victim")
        try Durable.write(Data("{\"state\":1}".utf8), to: dir + "/state.json")
        #expect(try String(contentsOfFile: dir + "/victim", encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: dir + "/state.json", encoding: .utf8) == "{\"state\":1}")
        #expect(!FileManager.default.fileExists(atPath: dir + "/state.json.tmp"))
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/state.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600 && (attributes[.type] as? FileAttributeType) == .typeRegular)
        // A second replacement: the old content goes whole.
        try Durable.write(Data("{}".utf8), to: dir + "/state.json")
        #expect(try String(contentsOfFile: dir + "/state.json", encoding: .utf8) == "{}")
    }

    @Test func aFileIsCreatedOnlyWhereNothingWasAndPublishedOnce() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try [UInt8]("one".utf8).withUnsafeBytes { try WrittenFile.create(dir + "/key", contents: $0) }
        #expect(throws: FileWriteError.self) { try [UInt8]("two".utf8).withUnsafeBytes { try WrittenFile.create(dir + "/key", contents: $0) } }
        try FileManager.default.createSymbolicLink(atPath: dir + "/planted", withDestinationPath: dir + "/elsewhere")
        #expect(throws: FileWriteError.self) { try [UInt8]("x".utf8).withUnsafeBytes { try WrittenFile.create(dir + "/planted", contents: $0) } }
        #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere"))

        try [UInt8]("new".utf8).withUnsafeBytes { try WrittenFile.create(dir + "/key.tmp", contents: $0) }
        #expect(try WrittenFile.publishUnlessPresent(dir + "/key.tmp", as: dir + "/key") == false)
        #expect(try String(contentsOfFile: dir + "/key", encoding: .utf8) == "one")
        #expect(try WrittenFile.publishUnlessPresent(dir + "/key.tmp", as: dir + "/fresh"))
        #expect(try String(contentsOfFile: dir + "/fresh", encoding: .utf8) == "new")
    }

    @Test func theMachineHasAName() {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        #expect(ThisMachine.name == String(cString: buffer) && !ThisMachine.name.isEmpty)
    }
}
