#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif os(Windows)
import WinSDK
#endif

/// What the file system says about a file: which file it is (its device or volume and its
/// number there: the inode, or Windows' file index), how long it is and when it was last
/// written.
package struct FileFacts: Hashable, Sendable {
    package var device: UInt64
    package var number: UInt64
    package var size: Int64
    /// Nanoseconds since 1970.
    package var modified: Int64
    /// A regular file: not a directory, FIFO, device or socket.
    package var isRegular: Bool

    package init(device: UInt64, number: UInt64, size: Int64, modified: Int64, isRegular: Bool) {
        self.device = device
        self.number = number
        self.size = size
        self.modified = modified
        self.isRegular = isRegular
    }

    /// The same file (device and number), whatever its size now.
    package func isSameFile(as other: FileFacts) -> Bool {
        device == other.device && number == other.number
    }
}

/// A regular file open for reading by position. Opening never blocks (a FIFO planted at a
/// log path would otherwise wait for a writer) and refuses anything but a regular file.
/// On Windows the file is opened with every sharing right, so the program writing it can
/// still rename or delete it (rotation) while it is read.
///
/// On Linux this is `open(2)`, `fstat(2)`, `pread(2)`; on Windows `CreateFileW`,
/// `GetFileInformationByHandle` and `ReadFile` at an offset. The Windows branch is
/// untested: it has never been compiled (see README).
package final class ReadableFile {
    #if os(Windows)
    let handle: HANDLE
    #else
    let fd: Int32
    #endif
    /// The file's facts when it was opened.
    package let opened: FileFacts

    /// Opens `path` if it is a regular file; nil when it is absent, unreadable or not regular.
    package static func open(_ path: String) -> ReadableFile? {
        #if os(Windows)
        let handle = path.withCString(encodedAs: UTF16.self) {
            CreateFileW(
                $0, DWORD(truncatingIfNeeded: GENERIC_READ),
                DWORD(truncatingIfNeeded: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE),
                nil, DWORD(truncatingIfNeeded: OPEN_EXISTING), DWORD(truncatingIfNeeded: FILE_ATTRIBUTE_NORMAL), nil)
        }
        guard let handle, handle != INVALID_HANDLE_VALUE else { return nil }
        guard GetFileType(handle) == DWORD(truncatingIfNeeded: FILE_TYPE_DISK), let facts = Self.facts(handle), facts.isRegular else {
            CloseHandle(handle)
            return nil
        }
        return ReadableFile(handle: handle, opened: facts)
        #else
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        guard let facts = Self.facts(fd), facts.isRegular else {
            posixClose(fd)
            return nil
        }
        return ReadableFile(fd: fd, opened: facts)
        #endif
    }

    #if os(Windows)
    private init(handle: HANDLE, opened: FileFacts) {
        self.handle = handle
        self.opened = opened
    }

    deinit { CloseHandle(handle) }
    #else
    private init(fd: Int32, opened: FileFacts) {
        self.fd = fd
        self.opened = opened
    }

    deinit { posixClose(fd) }
    #endif

    /// The facts now (the size grows as the file is written); nil if they cannot be read.
    package func facts() -> FileFacts? {
        #if os(Windows)
        Self.facts(handle)
        #else
        Self.facts(fd)
        #endif
    }

    /// The file's size now, 0 if it cannot be read.
    package var size: Int64 { facts()?.size ?? 0 }

    /// Reads up to `buffer.count` bytes at `offset`: the count read, 0 at the end, -1 on an error.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, offset >= 0 else { return 0 }
        #if os(Windows)
        var overlapped = OVERLAPPED()
        overlapped.Offset = DWORD(truncatingIfNeeded: UInt64(offset))
        overlapped.OffsetHigh = DWORD(truncatingIfNeeded: UInt64(offset) >> 32)
        var count: DWORD = 0
        guard ReadFile(handle, base, DWORD(min(buffer.count, 1 << 30)), &count, &overlapped) else {
            return GetLastError() == DWORD(truncatingIfNeeded: ERROR_HANDLE_EOF) ? 0 : -1
        }
        return Int(count)
        #else
        while true {
            let n = pread(fd, base, buffer.count, off_t(offset))
            if n < 0 && errno == EINTR { continue }
            return n
        }
        #endif
    }

    /// Reads up to `count` bytes at `offset` into the start of `buffer` (grown if needed).
    package func read(_ buffer: inout [UInt8], count: Int, at offset: Int64) -> Int {
        if buffer.count < count { buffer += [UInt8](repeating: 0, count: count - buffer.count) }
        return buffer.withUnsafeMutableBytes { read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: offset) }
    }

    /// The facts of what `path` names now (following a symbolic link); nil when nothing is there.
    package static func facts(of path: String) -> FileFacts? {
        #if os(Windows)
        // FILE_FLAG_BACKUP_SEMANTICS opens directories too, so they are reported as such.
        let handle = path.withCString(encodedAs: UTF16.self) {
            CreateFileW(
                $0, 0, DWORD(truncatingIfNeeded: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE),
                nil, DWORD(truncatingIfNeeded: OPEN_EXISTING), DWORD(truncatingIfNeeded: FILE_FLAG_BACKUP_SEMANTICS), nil)
        }
        guard let handle, handle != INVALID_HANDLE_VALUE else { return nil }
        defer { CloseHandle(handle) }
        return facts(handle)
        #else
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return facts(st)
        #endif
    }

    /// True when `path` itself (not what a link points to) is something other than a
    /// regular file or a symbolic link: a directory, FIFO, device or socket.
    package static func isOtherThanAFile(_ path: String) -> Bool {
        #if os(Windows)
        let attributes = path.withCString(encodedAs: UTF16.self) { GetFileAttributesW($0) }
        return attributes != INVALID_FILE_ATTRIBUTES && attributes & DWORD(truncatingIfNeeded: FILE_ATTRIBUTE_DIRECTORY) != 0
        #else
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT != S_IFREG && st.st_mode & S_IFMT != S_IFLNK
        #endif
    }

    #if os(Windows)
    private static func facts(_ handle: HANDLE) -> FileFacts? {
        var info = BY_HANDLE_FILE_INFORMATION()
        guard GetFileInformationByHandle(handle, &info) else { return nil }
        let size = Int64(info.nFileSizeHigh) << 32 | Int64(info.nFileSizeLow)
        let number = UInt64(info.nFileIndexHigh) << 32 | UInt64(info.nFileIndexLow)
        // FILETIME: 100 ns units since 1601.
        let written = Int64(info.ftLastWriteTime.dwHighDateTime) << 32 | Int64(info.ftLastWriteTime.dwLowDateTime)
        let modified = (written &- 116_444_736_000_000_000).multipliedReportingOverflow(by: 100)
        return FileFacts(
            device: UInt64(info.dwVolumeSerialNumber), number: number, size: size,
            modified: modified.overflow ? 0 : modified.partialValue,
            isRegular: info.dwFileAttributes & DWORD(truncatingIfNeeded: FILE_ATTRIBUTE_DIRECTORY) == 0)
    }
    #else
    private static func facts(_ fd: Int32) -> FileFacts? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return facts(st)
    }

    private static func facts(_ st: stat) -> FileFacts {
        #if canImport(Darwin)
        let modified = Int64(st.st_mtimespec.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtimespec.tv_nsec)
        #else
        let modified = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
        #endif
        return FileFacts(
            device: UInt64(truncatingIfNeeded: st.st_dev), number: UInt64(truncatingIfNeeded: st.st_ino), size: Int64(st.st_size),
            modified: modified, isRegular: st.st_mode & S_IFMT == S_IFREG)
    }
    #endif
}
