import Foundation
import Synchronization

/// Files that hold secrets (the passkey, edge keys, robot secrets, model keys) and the
/// directories that hold state, created so that nobody else can read them.
public enum SecretFile {
    /// Creates `path` holding `contents`, mode 0600, only if nothing is there yet (O_EXCL, so
    /// neither a file nor a symlink planted in advance is written through), and syncs it.
    public static func create(_ path: String, contents: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WireError.badKey("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw WireError.badKey("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        guard fsync(fd) == 0 else { throw WireError.badKey("cannot sync \(path)") }
    }

    /// Creates `path` holding `contents` (mode 0600, synced) unless a file is already there,
    /// atomically: the file appears whole or not at all (written under a temporary name, then
    /// linked), so two processes creating it at once (`relay run` and `relay edge-key` started
    /// together) agree on one. Returns false, writing nothing, when `path` already existed.
    public static func createUnlessPresent(_ path: String, contents: [UInt8]) throws -> Bool {
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).new"
        try create(temporary, contents: contents)
        defer { unlink(temporary) }
        // link(2) makes a new name and fails if anything (a file, a link) has it: no write
        // goes through a name someone planted.
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { return false }
            throw WireError.badKey("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return true
    }

    /// What is wrong with the permissions of a secret file: readable or writable by its group
    /// or by others. Nil when only its owner may use it (or it cannot be examined).
    public static func exposure(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "secret file \(path) has mode \(String(mode, radix: 8)): others than its owner may read it (chmod 600 \(path))"
    }

    /// Creates `path` (and its parents) as a directory only its owner may enter, or takes
    /// the group's and others' rights from an existing one. Returns true when it tightened
    /// an existing directory.
    @discardableResult
    public static func privateDirectory(_ path: String) throws -> Bool {
        var st = stat()
        if stat(path, &st) != 0 {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            _ = chmod(path, 0o700)  // the umask may have taken bits from what was asked
            return false
        }
        guard st.st_mode & 0o077 != 0 else { return false }
        return chmod(path, st.st_mode & 0o700) == 0
    }

    /// Warnings about secret files read so far (`SecretSource.read` adds them): the relay
    /// and the edge log them after reading their configuration; check-config prints them.
    public static var warnings: [String] { recorded.withLock { Array($0) }.sorted() }
    static let recorded = Mutex<Set<String>>([])
}
