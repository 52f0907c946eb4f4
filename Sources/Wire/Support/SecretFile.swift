import Foundation
import Platform
import Synchronization

/// Files that hold secrets (the passkey, edge keys, robot secrets, model keys) and the
/// directories that hold state, created so that nobody else can read them.
package enum SecretFile {
    /// Creates `path` holding `contents`, mode 0600, only if nothing is there yet (O_EXCL, so
    /// neither a file nor a symlink planted in advance is written through), and syncs it.
    package static func create(_ path: String, contents: [UInt8]) throws {
        do {
            try contents.withUnsafeBytes { try WrittenFile.create(path, contents: $0) }
        } catch let error as FileWriteError {
            throw WireError.badKey(error.description)
        }
    }

    /// Creates `path` holding `contents` (mode 0600, synced) unless a file is already there,
    /// atomically: the file appears whole or not at all (written under a temporary name, then
    /// linked), so two processes creating it at once (`relay run` and `relay edge-key` started
    /// together) agree on one. Returns false, writing nothing, when `path` already existed.
    package static func createUnlessPresent(_ path: String, contents: [UInt8]) throws -> Bool {
        let temporary = "\(path).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).new"
        try create(temporary, contents: contents)
        defer { WrittenFile.remove(temporary) }
        do {
            return try WrittenFile.publishUnlessPresent(temporary, as: path)
        } catch let error as FileWriteError {
            throw WireError.badKey(error.description)
        }
    }

    /// What is wrong with the permissions of a secret file: readable or writable by its group
    /// or by others. Nil when only its owner may use it (or it cannot be examined).
    /// Windows has no file modes (the files get their directory's ACL): nil there.
    package static func exposure(_ path: String) -> String? {
        #if os(Windows)
        return nil
        #else
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "secret file \(path) has mode \(String(mode, radix: 8)): others than its owner may read it (chmod 600 \(path))"
        #endif
    }

    /// Creates `path` (and its parents) as a directory only its owner may enter, or takes
    /// the group's and others' rights from an existing one. Returns true when it tightened
    /// an existing directory.
    @discardableResult
    package static func privateDirectory(_ path: String) throws -> Bool {
        #if os(Windows)
        // No modes: the directory gets its parent's ACL (docs/windows.md says which to use).
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return false
        #else
        var st = stat()
        if stat(path, &st) != 0 {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            _ = chmod(path, 0o700)  // the umask may have taken bits from what was asked
            return false
        }
        guard st.st_mode & 0o077 != 0 else { return false }
        return chmod(path, st.st_mode & 0o700) == 0
        #endif
    }

    /// Warnings about secret files read so far (`SecretSource.read` adds them): the relay
    /// and the edge log them after reading their configuration; check-config prints them.
    package static var warnings: [String] { recorded.withLock { Array($0) }.sorted() }
    static let recorded = Mutex<Set<String>>([])
}
