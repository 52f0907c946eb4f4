#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif os(Windows)
import WinSDK
#endif

/// A file write that failed: what was being done, to which path, and the system's reason.
package struct FileWriteError: Error, CustomStringConvertible {
    package var description: String
}

/// Files written so that a crash at any instant leaves either the old content or the new,
/// and files created only where nothing was.
///
/// Linux: `open(2)` with `O_EXCL`, `fsync(2)`, `rename(2)`, `link(2)` and an fsync of the
/// directory. Windows (untested: never compiled): `CreateFileW` (`CREATE_NEW`),
/// `FlushFileBuffers`, `MoveFileExW` (with `MOVEFILE_WRITE_THROUGH`; replacing only when
/// asked). Windows has no file modes: the files get the directory's ACL.
package enum WrittenFile {
    /// Replaces `path` with `bytes`: a temporary file beside it is written, synced and
    /// renamed over it, then the directory is synced.
    package static func replace(_ path: String, with bytes: UnsafeRawBufferPointer) throws {
        let temporary = path + ".tmp"
        remove(temporary)
        try create(temporary, contents: bytes)
        do {
            try rename(temporary, to: path, replacing: true)
        } catch {
            remove(temporary)
            throw error
        }
    }

    /// Creates `path` with `contents` (owner-only on Linux: mode 0600) and syncs it, only
    /// if nothing is there: neither a file nor a link planted in advance is written through.
    package static func create(_ path: String, contents: UnsafeRawBufferPointer) throws {
        #if os(Windows)
        let handle = path.withCString(encodedAs: UTF16.self) {
            CreateFileW(
                $0, DWORD(truncatingIfNeeded: GENERIC_WRITE), 0, nil, DWORD(truncatingIfNeeded: CREATE_NEW),
                DWORD(truncatingIfNeeded: FILE_ATTRIBUTE_NORMAL), nil)
        }
        guard let handle, handle != INVALID_HANDLE_VALUE else { throw failure("create", path) }
        defer { CloseHandle(handle) }
        var offset = 0
        while offset < contents.count {
            var written: DWORD = 0
            guard WriteFile(handle, contents.baseAddress! + offset, DWORD(min(contents.count - offset, 1 << 30)), &written, nil), written > 0 else {
                throw failure("write", path)
            }
            offset += Int(written)
        }
        guard FlushFileBuffers(handle) else { throw failure("sync", path) }
        #else
        let fd = posixOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", path) }
        defer { posixClose(fd) }
        var offset = 0
        while offset < contents.count {
            let n = write(fd, contents.baseAddress! + offset, contents.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("write", path) }
            offset += n
        }
        guard fsync(fd) == 0 else { throw failure("sync", path) }
        #endif
    }

    /// Gives the file at `temporary` the name `path` unless something already has it: false
    /// then, and `temporary` is left as it was. Two processes publishing at once agree on one.
    package static func publishUnlessPresent(_ temporary: String, as path: String) throws -> Bool {
        #if os(Windows)
        if let code = move(temporary, to: path, replacing: false) {
            if code == DWORD(truncatingIfNeeded: ERROR_ALREADY_EXISTS) || code == DWORD(truncatingIfNeeded: ERROR_FILE_EXISTS) { return false }
            throw FileWriteError(description: "cannot create \(path): Windows error \(code)")
        }
        return true
        #else
        // link(2) makes a new name and fails if anything (a file, a link) has it.
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { return false }
            throw failure("create", path)
        }
        syncDirectory(of: path)
        return true
        #endif
    }

    /// Renames `from` to `to` and syncs the directory; an existing `to` is replaced only
    /// when `replacing` is true.
    package static func rename(_ from: String, to: String, replacing: Bool) throws {
        #if os(Windows)
        if let code = move(from, to: to, replacing: replacing) {
            throw FileWriteError(description: "cannot rename \(from) to \(to): Windows error \(code)")
        }
        #else
        if !replacing {
            guard link(from, to) == 0 else { throw failure("rename \(from) to", to) }
            _ = unlink(from)
        } else {
            guard posixRename(from, to) == 0 else { throw failure("rename \(from) to", to) }
        }
        syncDirectory(of: to)
        #endif
    }

    #if os(Windows)
    /// MoveFileExW; the error code when it failed.
    private static func move(_ from: String, to: String, replacing: Bool) -> DWORD? {
        let flags = DWORD(truncatingIfNeeded: MOVEFILE_WRITE_THROUGH) | (replacing ? DWORD(truncatingIfNeeded: MOVEFILE_REPLACE_EXISTING) : 0)
        let moved = from.withCString(encodedAs: UTF16.self) { source in
            to.withCString(encodedAs: UTF16.self) { MoveFileExW(source, $0, flags) }
        }
        guard moved else { return GetLastError() }
        // MOVEFILE_WRITE_THROUGH does not promise the rename itself is on the disk on every
        // file system: the file is flushed under its new name as well.
        let handle = to.withCString(encodedAs: UTF16.self) {
            CreateFileW(
                $0, DWORD(truncatingIfNeeded: GENERIC_WRITE), DWORD(truncatingIfNeeded: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE),
                nil, DWORD(truncatingIfNeeded: OPEN_EXISTING), DWORD(truncatingIfNeeded: FILE_ATTRIBUTE_NORMAL), nil)
        }
        if let handle, handle != INVALID_HANDLE_VALUE {
            _ = FlushFileBuffers(handle)
            CloseHandle(handle)
        }
        return nil
    }
    #endif

    /// Removes the file at `path`, if any.
    package static func remove(_ path: String) {
        #if os(Windows)
        _ = path.withCString(encodedAs: UTF16.self) { DeleteFileW($0) }
        #else
        _ = unlink(path)
        #endif
    }

    /// Makes a rename in the directory of `path` durable (Linux; on Windows, where a
    /// directory cannot be opened for this, the renamed file is flushed instead).
    package static func syncDirectory(of path: String) {
        #if !os(Windows)
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = posixOpen(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            posixClose(fd)
        }
        #endif
    }

    static func failure(_ what: String, _ path: String) -> FileWriteError {
        #if os(Windows)
        FileWriteError(description: "cannot \(what) \(path): Windows error \(GetLastError())")
        #else
        FileWriteError(description: "cannot \(what) \(path): \(String(cString: strerror(errno)))")
        #endif
    }
}
