#if canImport(Glibc)
import Glibc
#endif

/// Keeps the edge's resident memory to what it uses.
///
/// Start-up (argument parsing, YAML, rule compilation) runs code once that is never needed
/// again, and by default the kernel maps 64 KiB of code around every page fault: an idle
/// edge held ~14 MiB of code pages it had touched once. `releaseStartupMemory` advises the
/// kernel to map code pages one at a time from now on (`MADV_RANDOM`) and drops the code
/// pages mapped so far (`MADV_DONTNEED`: clean copies of the file, they come back on their
/// next use from the page cache). Only executable, read-only, file-backed mappings without
/// a single copied-on-write page are touched: nothing written is ever discarded.
package enum MemoryFootprint {
    /// Returns the number of bytes of mappings advised.
    @discardableResult
    package static func releaseStartupMemory() -> Int {
        #if os(Linux)
        var released = 0
        for mapping in cleanCodeMappings() {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.lowerBound) else { continue }
            let length = Int(mapping.upperBound - mapping.lowerBound)
            if madvise(start, length, MADV_RANDOM) == 0, madvise(start, length, MADV_DONTNEED) == 0 {
                released += length
            }
        }
        return released
        #else
        return 0
        #endif
    }

    #if os(Linux)
    /// `r-xp` mappings of files whose `Anonymous` (copied-on-write pages) is 0, from /proc/self/smaps.
    static func cleanCodeMappings() -> [Range<UInt>] {
        guard let smaps = fopen("/proc/self/smaps", "r") else { return [] }
        defer { fclose(smaps) }
        var result: [Range<UInt>] = []
        var candidate: Range<UInt>?
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), smaps) != nil {
            let text = String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":") {
                // A mapping header: address perms offset dev inode [path]
                candidate = nil
                let bounds = first.split(separator: "-")
                guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/"), bounds.count == 2,
                    let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16), high > low
                else { continue }
                candidate = low..<high
            } else if first == "Anonymous:", let range = candidate {
                if fields.count >= 2, fields[1] == "0" { result.append(range) }
                candidate = nil
            }
        }
        return result
    }
    #endif
}
