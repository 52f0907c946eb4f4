#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif os(Windows)
import WinSDK
#endif

/// A regular file mapped read-only into memory, read in order (nil for anything that cannot
/// be: a pipe, a device, an empty file). `unmap()` ends it; the bytes are not used after.
///
/// `mmap(2)` on Linux; `CreateFileMappingW` and `MapViewOfFile` on Windows (untested: never
/// compiled).
package struct MappedFile {
    package let bytes: UnsafeBufferPointer<UInt8>

    package init?(path: String) {
        guard let file = ReadableFile.open(path) else { return nil }
        self.init(file)
    }

    /// The file as long as it is now (it may have grown since it was opened). The mapping
    /// stays valid after `file` is closed.
    package init?(_ file: ReadableFile) {
        guard let size = file.facts().flatMap({ Int(exactly: $0.size) }), size > 0 else { return nil }
        #if os(Windows)
        guard let mapping = file.withHandle({ CreateFileMappingW($0, nil, DWORD(truncatingIfNeeded: PAGE_READONLY), 0, 0, nil) }) else { return nil }
        // The view keeps the mapping alive once made.
        defer { CloseHandle(mapping) }
        guard let base = MapViewOfFile(mapping, DWORD(truncatingIfNeeded: FILE_MAP_READ), 0, 0, SIZE_T(size)) else { return nil }
        bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: size)
        #else
        guard let base = file.withDescriptor({ mmap(nil, size, PROT_READ, MAP_PRIVATE, $0, 0) }), base != MAP_FAILED else { return nil }
        _ = madvise(base, size, Int32(MADV_SEQUENTIAL))
        bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: size)
        #endif
    }

    package func unmap() {
        guard let base = bytes.baseAddress else { return }
        #if os(Windows)
        _ = UnmapViewOfFile(UnsafeRawPointer(base))
        #else
        _ = munmap(UnsafeMutableRawPointer(mutating: UnsafeRawPointer(base)), bytes.count)
        #endif
    }
}

extension ReadableFile {
    #if os(Windows)
    func withHandle<T>(_ body: (HANDLE) -> T) -> T { body(handle) }
    #else
    func withDescriptor<T>(_ body: (Int32) -> T) -> T { body(fd) }
    #endif
}
